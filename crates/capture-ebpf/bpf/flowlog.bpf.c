// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * flowlog kernel programs.
 *
 *   flowlog_ingress / flowlog_egress  tc (tcx or clsact) programs that parse
 *                                     each packet, track connections and emit
 *                                     FLOWLOG_KIND_TRACE records, and
 *                                     FLOWLOG_KIND_DNS records with the payload
 *                                     of packets to or from a DNS port.
 *   flowlog_kfree_skb                 tracepoint skb/kfree_skb: emits
 *                                     FLOWLOG_KIND_DROP records with the
 *                                     kernel's drop reason.
 *
 * All records go to the `events` ring buffer; a failed reservation counts in
 * the per-CPU `lost` array so userspace can report loss instead of hiding it.
 *
 * Kernel structs are declared here with only the fields we read and
 * preserve_access_index, so the loader relocates them against the running
 * kernel's BTF (CO-RE) and no generated vmlinux.h is needed.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "record.h"

/* No libc here; stdbool.h would be the only reason to depend on one. */
typedef _Bool bool;
#define true 1
#define false 0

#define TC_ACT_UNSPEC (-1)

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define IPPROTO_SCTP 132

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

/* How many IPv6 extension headers we walk before giving up on L4. */
#define MAX_IPV6_EXT_HEADERS 6
#define CONNTRACK_ENTRIES 65536

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- maps -------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* Default 4 MiB; the loader overrides it with the configured size. */
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flowlog_config);
} config SEC(".maps");

/* Bytes each CPU queued in `events` since it last woke the reader (wakeup_flag). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwoken_bytes SEC(".maps");

/*
 * The DNS ports, as a bitmap: one array lookup, which the verifier inlines,
 * per port of a TCP or UDP packet. Left empty, no packet is a DNS packet.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOWLOG_DNS_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} dns_ports SEC(".maps");

/*
 * Connection key: the 5-tuple with the two endpoints ordered (lower
 * address/port pair first), so both directions of a connection share an
 * entry. For ICMP echo the echo identifier stands in for both ports, so each
 * ping session is its own connection; other ICMP messages use ports 0.
 */
struct ct_key {
	__u8 addr_lo[16];
	__u8 addr_hi[16];
	__u16 port_lo;
	__u16 port_hi;
	__u8 ip_version;
	__u8 proto;
	__u16 _pad;
};

/* A connection, as every interface and the drop tracepoint see it. */
struct ct_value {
	__u8 orig_src_is_lo; /* the endpoint that opened the connection */
	__u8 closed;         /* a FIN or RST was seen: a fresh SYN starts over */
};

/*
 * LRU so that connections we never see closing age out instead of filling
 * the table. Entries are updated without atomics: two CPUs racing on the same
 * connection can at worst emit one extra record.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CONNTRACK_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
} conntrack SEC(".maps");

/*
 * What was reported of a connection on one interface. Aggregation is per
 * interface, as in Cilium where each observation point reports on its own:
 * a forwarded connection shows where it left one pod and where it reached
 * the other.
 */
struct report_key {
	struct ct_key conn;
	__u32 ifindex;
};

struct report_value {
	__u64 last_report_tick; /* jiffies */
	__u8 flags_seen[2];  /* TCP flags seen: [0] original, [1] reply direction */
	__u8 dirs_seen;      /* bit 0: a packet went the original way, bit 1: a reply */
	__u8 orig_src_is_lo; /* copied from the connection: a packet needs one lookup */
	__u8 _pad[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CONNTRACK_ENTRIES);
	__type(key, struct report_key);
	__type(value, struct report_value);
} reports SEC(".maps");

/*
 * The connection each CPU last looked up in `reports`, with what the table
 * held for it then. A train of packets of one connection (a TCP window, a
 * GRO batch, a UDP stream) is decided from this copy, in a line of the CPU's
 * own memory, instead of hashing the key and reading the shared table's
 * bucket and entry, lines other CPUs' writes evict (see ct_track_cached).
 */
struct last_report {
	struct report_key key;
	struct report_value value;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_report);
} last_report SEC(".maps");

/* ---- kernel types (CO-RE) --------------------------------------------- */

struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
	__u16 vlan_tci;
	__u16 mac_header;
	__u16 network_header;
	unsigned char *head;
	struct net_device *dev;
} __attribute__((preserve_access_index));

/* Only the enumerator we compare against; its value is relocated from BTF. */
enum skb_drop_reason {
	SKB_DROP_REASON_NOT_SPECIFIED = 2,
};

/* The tracepoint's context, see events/skb/kfree_skb/format. */
struct trace_event_raw_kfree_skb {
	void *skbaddr;
	unsigned short protocol;
	enum skb_drop_reason reason;
} __attribute__((preserve_access_index));

/* ---- packet parsing ----------------------------------------------------- */

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlan_tag {
	__be16 tci;
	__be16 proto; /* of what follows */
};

struct ipv4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct ipv6_hdr {
	__u8 ver_tc;
	__u8 tc_flow[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The first four bytes of every IPv6 extension header but AH's are these. */
struct ipv6_ext {
	__u8 nexthdr;
	__u8 len;       /* in 8 bytes past the first 8; AH: in 4 bytes past the first 8 */
	__be16 frag_off; /* fragment header: offset in 8s, and flags in the low 3 bits */
};

/* The start of a TCP, UDP, SCTP or ICMP header: what the programs read of it. */
struct l4_hdr {
	union {
		struct {
			__be16 sport;
			__be16 dport;
		};
		struct {
			__u8 icmp_type;
			__u8 icmp_code;
			__be16 icmp_check;
		};
	};
	union {
		__be16 udp_len;
		__be16 icmp_echo_id;
		__be32 tcp_seq;
	};
	__be32 tcp_ack;
	__u8 tcp_doff; /* header length in 4s, in the high nibble */
	__u8 tcp_flags;
};

/*
 * Where packet bytes come from. tc programs read the packet (offsets from
 * the Ethernet header); the tracepoint reads kernel memory from skb->head
 * (offsets from head). `from_skb` is a compile-time constant in each caller,
 * so the other branch is removed.
 */
struct pkt_src {
	struct __sk_buff *skb;
	const unsigned char *head;
};

/* Headers lie within this many bytes of the Ethernet header; past it, the helper reads. */
#define DIRECT_READ_LIMIT 512

/*
 * The `len` bytes of a header at `off`, or NULL when the packet ends first.
 *
 * tc programs read a header in place in the packet's linear data, where
 * headers nearly always are: a helper call to copy it, or a copy at all,
 * cost more than the rest of the parse. Past that, and for the tracepoint
 * (kernel memory from skb->head), the header is copied into `buf`.
 *
 * Headers are read as the structs above, in words rather than bytes, which
 * assumes what the verifier assumes where unaligned reads are slow
 * (NET_IP_ALIGN: skb->data is 2 mod 4, so the Ethernet header is 2-aligned
 * and every later header 4-aligned); `buf` is aligned as a header.
 */
static __always_inline const void *pkt_header(const struct pkt_src *src, bool from_skb, __u32 off, __u32 len,
					      void *buf)
{
	if (from_skb) {
		void *data = (void *)(long)src->skb->data;
		void *data_end = (void *)(long)src->skb->data_end;

		if (off < DIRECT_READ_LIMIT && data + off + len <= data_end)
			return data + off;
		return bpf_skb_load_bytes(src->skb, off, buf, len) == 0 ? buf : NULL;
	}
	return bpf_probe_read_kernel(buf, len, src->head + off) == 0 ? buf : NULL;
}

/* A stack buffer that pkt_header may copy a header of `type` into. */
#define HEADER_BUF(type, name) type name __attribute__((aligned(8)))

/* Ports used for the connection key (differ from record ports for ICMP). */
struct ct_ports {
	__u16 sport;
	__u16 dport;
};

/* Where a TCP or UDP payload lies in the packet; off == end when it has none. */
struct l4_payload {
	__u32 off;
	__u32 end;     /* the end of the IP packet: Ethernet padding is not payload */
	__u32 udp_len; /* UDP: the datagram's length, which a first fragment holds only part of */
	__u32 tcp_seq;
};

static __always_inline void parse_l4(const struct pkt_src *src, bool from_skb, __u32 off, struct flow_record *rec,
				     struct ct_ports *ports, struct l4_payload *payload)
{
	HEADER_BUF(struct l4_hdr, buf);
	const struct l4_hdr *l4;

	switch (rec->l4_proto) {
	case IPPROTO_TCP:
		l4 = pkt_header(src, from_skb, off, 14, &buf);
		if (!l4)
			return;
		rec->tcp_flags = l4->tcp_flags;
		payload->off = off + (l4->tcp_doff >> 4) * 4;
		payload->tcp_seq = bpf_ntohl(l4->tcp_seq);
		break;
	case IPPROTO_UDP:
		l4 = pkt_header(src, from_skb, off, 6, &buf);
		if (!l4)
			return;
		payload->off = off + 8;
		payload->udp_len = bpf_ntohs(l4->udp_len);
		break;
	case IPPROTO_SCTP:
		l4 = pkt_header(src, from_skb, off, 4, &buf);
		if (!l4)
			return;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		l4 = pkt_header(src, from_skb, off, 8, &buf);
		if (!l4)
			return;
		rec->icmp_type = l4->icmp_type;
		rec->icmp_code = l4->icmp_code;
		if ((rec->l4_proto == IPPROTO_ICMP &&
		     (l4->icmp_type == ICMP_ECHO || l4->icmp_type == ICMP_ECHOREPLY)) ||
		    (rec->l4_proto == IPPROTO_ICMPV6 &&
		     (l4->icmp_type == ICMPV6_ECHO_REQUEST || l4->icmp_type == ICMPV6_ECHO_REPLY))) {
			__u16 id = bpf_ntohs(l4->icmp_echo_id);

			ports->sport = id;
			ports->dport = id;
		}
		return;
	default:
		return;
	}
	rec->sport = bpf_ntohs(l4->sport);
	rec->dport = bpf_ntohs(l4->dport);
	ports->sport = rec->sport;
	ports->dport = rec->dport;
}

/* Parses IPv4/IPv6 and L4 starting at `off`. Returns 0 when an IP header was read. */
static __always_inline int parse_ip(const struct pkt_src *src, bool from_skb, __u32 off, struct flow_record *rec,
				    struct ct_ports *ports, struct l4_payload *payload)
{
	if (rec->eth_proto == ETH_P_IP) {
		HEADER_BUF(struct ipv4_hdr, buf);
		const struct ipv4_hdr *ip4 = pkt_header(src, from_skb, off, sizeof(buf), &buf);
		__u8 ver_ihl;

		if (!ip4)
			return -1;
		ver_ihl = ip4->ver_ihl;
		if ((ver_ihl >> 4) != 4 || (ver_ihl & 0xf) < 5)
			return -1;
		rec->ip_version = 4;
		rec->l4_proto = ip4->protocol;
		__builtin_memcpy(rec->saddr, ip4->saddr, 4);
		__builtin_memcpy(rec->daddr, ip4->daddr, 4);
		/* A non-first fragment carries no L4 header. */
		if (bpf_ntohs(ip4->frag_off) & 0x1fff)
			return 0;
		payload->end = off + bpf_ntohs(ip4->tot_len);
		parse_l4(src, from_skb, off + (ver_ihl & 0xf) * 4, rec, ports, payload);
		return 0;
	}

	if (rec->eth_proto == ETH_P_IPV6) {
		HEADER_BUF(struct ipv6_hdr, buf);
		const struct ipv6_hdr *ip6 = pkt_header(src, from_skb, off, sizeof(buf), &buf);
		__u8 nexthdr;

		if (!ip6)
			return -1;
		if ((ip6->ver_tc >> 4) != 6)
			return -1;
		rec->ip_version = 6;
		__builtin_memcpy(rec->saddr, ip6->saddr, 16);
		__builtin_memcpy(rec->daddr, ip6->daddr, 16);
		nexthdr = ip6->nexthdr;
		off += sizeof(*ip6);
		payload->end = off + bpf_ntohs(ip6->payload_len);

#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
			HEADER_BUF(struct ipv6_ext, ext_buf);
			const struct ipv6_ext *ext;

			if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING && nexthdr != IPPROTO_DSTOPTS &&
			    nexthdr != IPPROTO_FRAGMENT && nexthdr != IPPROTO_AH)
				break;
			ext = pkt_header(src, from_skb, off, sizeof(ext_buf), &ext_buf);
			if (!ext) {
				rec->l4_proto = nexthdr;
				return 0;
			}
			if (nexthdr == IPPROTO_FRAGMENT) {
				/* Fixed 8 bytes; a non-first fragment has no L4 header. */
				if (bpf_ntohs(ext->frag_off) & 0xfff8) {
					rec->l4_proto = ext->nexthdr;
					return 0;
				}
				off += 8;
			} else if (nexthdr == IPPROTO_AH) {
				off += ((__u32)ext->len + 2) * 4;
			} else {
				off += ((__u32)ext->len + 1) * 8;
			}
			nexthdr = ext->nexthdr;
		}
		rec->l4_proto = nexthdr;
		if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_DSTOPTS ||
		    nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH)
			return 0; /* too many extension headers: leave L4 empty */
		parse_l4(src, from_skb, off, rec, ports, payload);
		return 0;
	}
	return -1;
}

/* ---- output -------------------------------------------------------------- */

/*
 * Each CPU wakes the reader once it has queued this much since it last did.
 * Woken for every record (the default, whenever the reader has caught up), a
 * reader that keeps up costs an interrupt per packet, and on a virtual
 * machine each one is a VM exit of microseconds. The agent also drains the
 * ring on a short timer, so a trickle of records is not left waiting.
 *
 * Counted per CPU rather than asked of the ring (bpf_ringbuf_query): that is
 * a helper call, and it reads the positions the reader's CPU writes.
 */
#define WAKEUP_BYTES (16 * 1024)

static __always_inline __u64 wakeup_flag(__u32 record_bytes)
{
	__u32 zero = 0;
	__u64 *queued = bpf_map_lookup_elem(&unwoken_bytes, &zero);

	if (!queued)
		return 0; /* cannot happen; 0 leaves it to the ring */
	*queued += record_bytes + BPF_RINGBUF_HDR_SZ;
	if (*queued < WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	*queued = 0;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&lost, &zero);

	if (count)
		*count += 1;
}

static __always_inline void emit(const struct flow_record *rec)
{
	if (bpf_ringbuf_output(&events, (void *)rec, sizeof(*rec), wakeup_flag(sizeof(*rec))) < 0)
		count_lost();
}

static __always_inline bool is_dns_port(__u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(&dns_ports, &word);

	return bits && (*bits >> (port & 63)) & 1;
}

/*
 * A DNS packet's record and payload. The payload is copied straight into the
 * ring buffer's slot, cut at FLOWLOG_DNS_MAX_BYTES; userspace parses it.
 */
static __always_inline void emit_dns(struct __sk_buff *skb, const struct flow_record *rec,
				     const struct l4_payload *payload)
{
	__u32 len = payload->end > payload->off ? payload->end - payload->off : 0;
	/* A fragmented datagram is longer than its first fragment. */
	__u32 wire_len = payload->udp_len > 8 && payload->udp_len - 8 > len ? payload->udp_len - 8 : len;
	struct dns_record *dns;

	dns = bpf_ringbuf_reserve(&events, sizeof(*dns), 0);
	if (!dns) {
		count_lost();
		return;
	}
	dns->flow = *rec;
	dns->flow.kind = FLOWLOG_KIND_DNS;
	dns->tcp_seq = payload->tcp_seq;
	dns->wire_len = wire_len > 0xffff ? 0xffff : wire_len;
	if (len > FLOWLOG_DNS_MAX_BYTES)
		len = FLOWLOG_DNS_MAX_BYTES;
	dns->captured = 0;
	/*
	 * For 1..MAX, ((len - 1) & (MAX - 1)) + 1 is len; written so, the
	 * verifier sees the bounds on the value passed (clang folds plain
	 * range checks into a copy it does not track).
	 */
	if (len > 0) {
		len = ((len - 1) & (FLOWLOG_DNS_MAX_BYTES - 1)) + 1;
		if (bpf_skb_load_bytes(skb, payload->off, dns->data, len) == 0)
			dns->captured = len;
	}
	bpf_ringbuf_submit(dns, wakeup_flag(sizeof(*dns)));
}

static __always_inline struct flowlog_config load_config(void)
{
	struct flowlog_config cfg = {};
	__u32 zero = 0;
	struct flowlog_config *c = bpf_map_lookup_elem(&config, &zero);

	if (c)
		cfg = *c;
	return cfg;
}

/* ---- connection tracking ------------------------------------------------ */

/* Fills `key` and returns whether the packet's source is the lower endpoint. */
static __always_inline bool ct_key_build(const struct flow_record *rec, const struct ct_ports *ports,
					 struct ct_key *key)
{
	__u64 s0, s1, d0, d1;
	bool src_is_lo;

	/* Any total order works, as long as both directions agree on it. */
	__builtin_memcpy(&s0, rec->saddr, 8);
	__builtin_memcpy(&s1, rec->saddr + 8, 8);
	__builtin_memcpy(&d0, rec->daddr, 8);
	__builtin_memcpy(&d1, rec->daddr + 8, 8);
	if (s0 != d0)
		src_is_lo = s0 < d0;
	else if (s1 != d1)
		src_is_lo = s1 < d1;
	else
		src_is_lo = ports->sport <= ports->dport;

	key->ip_version = rec->ip_version;
	key->proto = rec->l4_proto;
	key->_pad = 0;
	if (src_is_lo) {
		__builtin_memcpy(key->addr_lo, rec->saddr, 16);
		__builtin_memcpy(key->addr_hi, rec->daddr, 16);
		key->port_lo = ports->sport;
		key->port_hi = ports->dport;
	} else {
		__builtin_memcpy(key->addr_lo, rec->daddr, 16);
		__builtin_memcpy(key->addr_hi, rec->saddr, 16);
		key->port_lo = ports->dport;
		key->port_hi = ports->sport;
	}
	return src_is_lo;
}

/*
 * A packet that can only be an answer (SYN|ACK, echo reply): when it is the
 * first we see of a connection, its destination is the side that opened it.
 */
static __always_inline bool looks_like_reply(const struct flow_record *rec)
{
	if (rec->l4_proto == IPPROTO_TCP)
		return (rec->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
	if (rec->l4_proto == IPPROTO_ICMP)
		return rec->icmp_type == ICMP_ECHOREPLY;
	if (rec->l4_proto == IPPROTO_ICMPV6)
		return rec->icmp_type == ICMPV6_ECHO_REPLY;
	return false;
}

/*
 * The connection's entry in the shared table, created when new; NULL when the
 * table cannot take it. Only the first packet of a connection on an interface
 * and TCP flags that close it get here: afterwards the interface's own entry
 * remembers the direction, so a packet costs one lookup.
 */
static __always_inline struct ct_value *ct_connection(const struct flow_record *rec, const struct ct_key *key,
						      bool src_is_lo, bool fresh_syn)
{
	struct ct_value *v = bpf_map_lookup_elem(&conntrack, key);

	if (v && fresh_syn && v->closed) {
		/* A fresh SYN on a closed tuple: a new connection reusing the ports. */
		bpf_map_delete_elem(&conntrack, key);
		v = NULL;
	}
	if (!v) {
		struct ct_value nv = {};

		nv.orig_src_is_lo = looks_like_reply(rec) ? !src_is_lo : src_is_lo;
		bpf_map_update_elem(&conntrack, key, &nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&conntrack, key);
	}
	return v;
}

/* A packet's way through its connection's report entry. */
struct report_way {
	bool reply;
	__u8 dir_bit; /* its bit in dirs_seen */
	__u8 seen;    /* the TCP flags seen its way */
};

static __always_inline struct report_way report_way(const struct report_value *r, bool src_is_lo)
{
	bool reply = src_is_lo != (bool)r->orig_src_is_lo;

	return (struct report_way){ .reply = reply, .dir_bit = reply ? 2 : 1, .seen = r->flags_seen[reply] };
}

/* A FIN or RST was seen: a fresh SYN on these ports starts a new connection. */
static __always_inline bool report_closing(const struct report_value *r)
{
	return (r->flags_seen[0] | r->flags_seen[1]) & (TCP_FIN | TCP_RST);
}

/*
 * Whether a packet that is neither the first its way nor brings a new TCP
 * flag is reported: with medium once per interval, with maximum never.
 */
static __always_inline bool steady_report(const struct report_value *r, __u64 tick, const struct flowlog_config *cfg)
{
	switch (cfg->aggregation) {
	case FLOWLOG_AGG_MEDIUM:
		return tick - r->last_report_tick >= cfg->report_interval_ticks;
	case FLOWLOG_AGG_MAXIMUM:
		return false;
	default:
		return true;
	}
}

static __always_inline bool same_report_key(const struct report_key *a, const struct report_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

#pragma unroll
	for (unsigned int i = 0; i < sizeof(struct report_key) / 4; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/*
 * Decides from this CPU's copy of the connection's report entry, when the
 * packet is of the connection last looked up and changes nothing the entry
 * holds: its direction was seen, its TCP flags were all seen, the
 * connection is not closing and the packet is not a SYN that could start a
 * new one. Returns 1 to report, 0 not to, -1 when the table must decide.
 *
 * The copy is never newer than the table (other CPUs only add flags and
 * move the report time on), so a packet it holds back is one the table
 * would have held back too; what it cannot see is the entry being replaced
 * meanwhile: evicted under table pressure, or a port reused on another CPU
 * within the interval, where the table would report the packet as new.
 */
static __always_inline int ct_track_cached(struct flow_record *rec, __u64 tick, const struct last_report *last,
					   const struct report_key *key, bool src_is_lo, const struct flowlog_config *cfg)
{
	const struct report_value *c = &last->value;
	struct report_way way;

	if (!same_report_key(&last->key, key))
		return -1;
	way = report_way(c, src_is_lo);
	if (!(c->dirs_seen & way.dir_bit) || (rec->tcp_flags & ~way.seen) || report_closing(c))
		return -1;
	rec->is_reply = way.reply ? FLOWLOG_REPLY_YES : FLOWLOG_REPLY_NO;
	if (!steady_report(c, tick, cfg))
		return 0;
	/* Reported: with medium the table's report time must move on. */
	return cfg->aggregation == FLOWLOG_AGG_MEDIUM ? -1 : 1;
}

/*
 * Sets rec->is_reply and decides, from the aggregation level, whether this
 * packet is reported on its interface. Returns true to report.
 */
static __always_inline bool ct_track(struct flow_record *rec, __u64 tick, const struct ct_ports *ports,
				     const struct flowlog_config *cfg)
{
	struct report_key rkey = {};
	struct ct_value *v;
	struct report_value *r;
	struct last_report *last;
	__u32 zero = 0;
	struct report_way way;
	bool src_is_lo, first, report, fresh_syn;
	__u8 new_flags, reported_flags;

	src_is_lo = ct_key_build(rec, ports, &rkey.conn);
	rkey.ifindex = rec->ifindex;
	fresh_syn = (rec->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;

	last = bpf_map_lookup_elem(&last_report, &zero);
	if (last && !fresh_syn) {
		int cached = ct_track_cached(rec, tick, last, &rkey, src_is_lo, cfg);

		if (cached >= 0)
			return cached;
	}

	r = bpf_map_lookup_elem(&reports, &rkey);
	if (r && fresh_syn && report_closing(r)) {
		bpf_map_delete_elem(&reports, &rkey);
		r = NULL;
	}
	if (!r) {
		struct report_value nr = {};

		v = ct_connection(rec, &rkey.conn, src_is_lo, fresh_syn);
		if (!v) {
			/* Table update failed: report without direction knowledge. */
			rec->is_reply = FLOWLOG_REPLY_UNKNOWN;
			return true;
		}
		nr.orig_src_is_lo = v->orig_src_is_lo;
		bpf_map_update_elem(&reports, &rkey, &nr, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&reports, &rkey);
		if (!r) {
			rec->is_reply = src_is_lo != (bool)v->orig_src_is_lo ? FLOWLOG_REPLY_YES : FLOWLOG_REPLY_NO;
			return true;
		}
	}

	way = report_way(r, src_is_lo);
	rec->is_reply = way.reply ? FLOWLOG_REPLY_YES : FLOWLOG_REPLY_NO;

	/* "First" is per direction, so the first answer is reported too. */
	first = !(r->dirs_seen & way.dir_bit);
	if (first)
		r->dirs_seen |= way.dir_bit;

	new_flags = rec->tcp_flags & ~way.seen;
	if (new_flags) {
		if (way.reply)
			r->flags_seen[1] = way.seen | rec->tcp_flags;
		else
			r->flags_seen[0] = way.seen | rec->tcp_flags;
		/* Closing: let a later SYN on the same ports start a new connection. */
		if (new_flags & (TCP_FIN | TCP_RST)) {
			v = bpf_map_lookup_elem(&conntrack, &rkey.conn);
			if (v)
				v->closed = 1;
		}
	}

	/* Maximum reports only the TCP flags that open and close; medium every new one. */
	reported_flags = cfg->aggregation == FLOWLOG_AGG_MAXIMUM ? (TCP_SYN | TCP_FIN | TCP_RST) : 0xff;
	report = first || (new_flags & reported_flags) || steady_report(r, tick, cfg);
	/* Only medium reads the report time: the other levels leave the line unwritten. */
	if (report && cfg->aggregation == FLOWLOG_AGG_MEDIUM)
		r->last_report_tick = tick;
	if (last) {
		last->key = rkey;
		last->value = *r;
	}
	return report;
}

/* Direction of a dropped packet relative to a connection we already track. */
static __always_inline __u8 ct_peek_reply(const struct flow_record *rec, const struct ct_ports *ports)
{
	struct ct_key key;
	struct ct_value *v;
	bool src_is_lo = ct_key_build(rec, ports, &key);

	v = bpf_map_lookup_elem(&conntrack, &key);
	if (!v)
		return FLOWLOG_REPLY_UNKNOWN;
	return src_is_lo != (bool)v->orig_src_is_lo ? FLOWLOG_REPLY_YES : FLOWLOG_REPLY_NO;
}

/* ---- tc ------------------------------------------------------------------- */

static __always_inline int handle_tc(struct __sk_buff *skb, __u8 direction)
{
	struct pkt_src src = { .skb = skb };
	struct flow_record rec = {};
	struct ct_ports ports = {};
	struct l4_payload payload = {};
	struct flowlog_config cfg = load_config();
	HEADER_BUF(struct eth_hdr, eth_buf);
	const struct eth_hdr *eth = pkt_header(&src, true, 0, ETH_HLEN, &eth_buf);
	__u32 off = ETH_HLEN;
	__u16 proto;
	__u64 tick;

	if (!eth)
		return TC_ACT_UNSPEC;

	/*
	 * Aggregation counts time in ticks (jiffies: 1 to 10 ms), which the
	 * verifier inlines into one load, where even the coarse clock is a
	 * helper call; a record is stamped with the precise clock when it is
	 * emitted.
	 */
	tick = bpf_jiffies64();
	rec.kind = FLOWLOG_KIND_TRACE;
	rec.direction = direction;
	rec.ifindex = skb->ifindex;
	rec.len = skb->len;
	rec.is_reply = FLOWLOG_REPLY_UNKNOWN;
	__builtin_memcpy(rec.dst_mac, eth->dst, 6);
	__builtin_memcpy(rec.src_mac, eth->src, 6);
	proto = bpf_ntohs(eth->proto);

	/*
	 * The outer tag is usually already in skb metadata (VLAN offload, and the
	 * stack untags before tc ingress); further tags are still in the packet.
	 */
	if (skb->vlan_present)
		rec.vlan_id = skb->vlan_tci & 0x0fff;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		HEADER_BUF(struct vlan_tag, tag_buf);
		const struct vlan_tag *tag;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		tag = pkt_header(&src, true, off, sizeof(tag_buf), &tag_buf);
		if (!tag)
			break;
		if (rec.vlan_id == 0)
			rec.vlan_id = bpf_ntohs(tag->tci) & 0x0fff;
		proto = bpf_ntohs(tag->proto);
		off += 4;
	}
	rec.eth_proto = proto;

	if (parse_ip(&src, true, off, &rec, &ports, &payload) == 0) {
		bool report = ct_track(&rec, tick, &ports, &cfg);

		/*
		 * Every DNS message is its own event, whatever the aggregation.
		 * TCP's SYN, FIN and RST go too, payload or not: userspace follows
		 * each stream from where its first length prefix starts.
		 */
		if ((rec.l4_proto == IPPROTO_UDP || rec.l4_proto == IPPROTO_TCP) &&
		    (payload.end > payload.off || (rec.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))) &&
		    (is_dns_port(rec.sport) || is_dns_port(rec.dport))) {
			rec.ktime_ns = bpf_ktime_get_ns();
			emit_dns(skb, &rec, &payload);
		}
		if (!report)
			return TC_ACT_UNSPEC;
	} else if (cfg.aggregation != FLOWLOG_AGG_NONE) {
		/* Non-IP traffic (ARP, LLDP...) has no connection to aggregate by. */
		return TC_ACT_UNSPEC;
	}
	rec.ktime_ns = bpf_ktime_get_ns();
	emit(&rec);
	return TC_ACT_UNSPEC;
}

SEC("classifier")
int flowlog_ingress(struct __sk_buff *skb)
{
	return handle_tc(skb, FLOWLOG_DIR_INGRESS);
}

SEC("classifier")
int flowlog_egress(struct __sk_buff *skb)
{
	return handle_tc(skb, FLOWLOG_DIR_EGRESS);
}

/* ---- drops ---------------------------------------------------------------- */

SEC("tracepoint/skb/kfree_skb")
int flowlog_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	__u32 reason = ctx->reason;
	/* Host order: the tracepoint stores ntohs(skb->protocol). */
	__u16 proto = ctx->protocol;
	struct pkt_src src = {};
	struct flow_record rec = {};
	struct ct_ports ports = {};
	struct l4_payload payload = {};
	struct net_device *dev;
	__u16 network_header, mac_header;

	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	/*
	 * NOT_SPECIFIED is every kfree_skb() without a reason, mostly noise;
	 * lower values (NOT_DROPPED_YET, CONSUMED) are not drops at all.
	 */
	if (reason < bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED)) {
		struct flowlog_config cfg = load_config();

		if (!cfg.report_unspecified_drops)
			return 0;
	}

	src.head = BPF_CORE_READ(skb, head);
	network_header = BPF_CORE_READ(skb, network_header);
	mac_header = BPF_CORE_READ(skb, mac_header);
	dev = BPF_CORE_READ(skb, dev);

	rec.ktime_ns = bpf_ktime_get_ns();
	rec.kind = FLOWLOG_KIND_DROP;
	rec.direction = FLOWLOG_DIR_UNKNOWN;
	rec.drop_reason = reason;
	rec.len = BPF_CORE_READ(skb, len);
	rec.vlan_id = BPF_CORE_READ(skb, vlan_tci) & 0x0fff;
	rec.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	rec.eth_proto = proto;
	rec.is_reply = FLOWLOG_REPLY_UNKNOWN;

	/* 0xffff means "not set"; then there is no Ethernet header to read. */
	if (mac_header != 0xffff && network_header >= mac_header + ETH_HLEN) {
		__u8 eth[12];

		if (bpf_probe_read_kernel(eth, sizeof(eth), src.head + mac_header) == 0) {
			__builtin_memcpy(rec.dst_mac, eth, 6);
			__builtin_memcpy(rec.src_mac, eth + 6, 6);
		}
	}
	if (network_header == 0xffff || parse_ip(&src, false, network_header, &rec, &ports, &payload) != 0)
		return 0;
	rec.is_reply = ct_peek_reply(&rec, &ports);
	emit(&rec);
	return 0;
}
