//! DNS messages per second on one core: a typical answer (a CNAME and two
//! addresses, compressed, with an EDNS record) parsed alone, and a query
//! and its answer through the whole DNS stage (duplicate check, latency
//! table, cache, L7 flow with its summary), as the agent runs it. The
//! stage's time includes cloning the packet's L3/L4 flow into the L7 one.

use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowlog_dns::{CacheLimits, DnsObserver, DnsPacket, Message, Transport};
use flowlog_flow::{Flow, Timestamp};
use simple_dns::rdata::{A, CNAME, OPT, RData};
use simple_dns::{CLASS, Name, Packet, QCLASS, QTYPE, ResourceRecord, TYPE};

fn messages(id: u16) -> (Vec<u8>, Vec<u8>) {
    let qname = Name::new_unchecked("api.github.com");
    let question = simple_dns::Question::new(qname.clone(), QTYPE::TYPE(TYPE::A), QCLASS::CLASS(CLASS::IN), false);
    let mut query = Packet::new_query(id);
    query.questions.push(question.clone());
    *query.opt_mut() = Some(OPT { opt_codes: Vec::new(), udp_packet_size: 1232, version: 0 });
    let mut answer = Packet::new_reply(id);
    answer.questions.push(question);
    let target = Name::new_unchecked("lb-140-82-112-5-iad.github.com");
    answer.answers.push(ResourceRecord::new(qname, CLASS::IN, 60, RData::CNAME(CNAME(target.clone()))));
    for address in [0x8c52_7005, 0x8c52_7006] {
        answer.answers.push(ResourceRecord::new(target.clone(), CLASS::IN, 30, RData::A(A { address })));
    }
    *answer.opt_mut() = Some(OPT { opt_codes: Vec::new(), udp_packet_size: 1232, version: 0 });
    (query.build_bytes_vec_compressed().unwrap(), answer.build_bytes_vec_compressed().unwrap())
}

fn parsing(c: &mut Criterion) {
    let (_, answer) = messages(7);
    let mut group = c.benchmark_group("dns");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse an answer", |b| b.iter(|| Message::parse(std::hint::black_box(&answer)).unwrap()));

    // A thousand query/answer pairs with distinct IDs, over and over.
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..1000).map(messages).collect();
    let client: SocketAddr = "10.244.1.5:41000".parse().unwrap();
    let server: SocketAddr = "10.96.0.10:53".parse().unwrap();
    let mut observer = DnsObserver::new(CacheLimits::default());
    let mut flow = Flow { time: Some(Timestamp { seconds: 1_700_000_000, nanos: 0 }), ..Flow::default() };
    let mut next = pairs.iter().cycle();
    group.throughput(Throughput::Elements(2));
    group.bench_function("a query and its answer through the stage", |b| {
        b.iter(|| {
            let (query, answer) = next.next().unwrap();
            flow.time.as_mut().unwrap().nanos = (flow.time.unwrap().nanos + 1_000) % 1_000_000_000;
            let asked = DnsPacket {
                source: client,
                destination: server,
                interface: 3,
                transport: Transport::Udp,
                payload: query,
                cut: false,
            };
            let answered = DnsPacket { source: server, destination: client, payload: answer, ..asked };
            (observer.observe(&flow, &asked), observer.observe(&flow, &answered))
        })
    });
    group.finish();
}

criterion_group!(benches, parsing);
criterion_main!(benches);
