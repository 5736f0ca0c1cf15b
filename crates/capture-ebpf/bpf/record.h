/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Wire types shared by the kernel programs (flowlog.bpf.c) and the Rust
 * loader (src/record.rs, src/config.rs mirror them with #[repr(C)] structs).
 *
 * Every struct is laid out without implicit padding so the byte image is the
 * same on every architecture and the Rust mirror can be checked field by field.
 * Change a field here and the size assertions on both sides must change too.
 */
#ifndef FLOWLOG_RECORD_H
#define FLOWLOG_RECORD_H

#include <linux/types.h>

/* flow_record.kind */
#define FLOWLOG_KIND_TRACE 1 /* seen by a tc program */
#define FLOWLOG_KIND_DROP 2  /* freed by the kernel with a drop reason */
#define FLOWLOG_KIND_DNS 3   /* a DNS message seen by a tc program: struct dns_record */

/* flow_record.direction */
#define FLOWLOG_DIR_INGRESS 0
#define FLOWLOG_DIR_EGRESS 1
#define FLOWLOG_DIR_UNKNOWN 2

/* flow_record.is_reply */
#define FLOWLOG_REPLY_NO 0
#define FLOWLOG_REPLY_YES 1
#define FLOWLOG_REPLY_UNKNOWN 2

/* flowlog_config.aggregation */
#define FLOWLOG_AGG_NONE 0    /* every packet */
#define FLOWLOG_AGG_MEDIUM 1  /* first packet each way, new TCP flags, one per interval */
#define FLOWLOG_AGG_MAXIMUM 2 /* first packet each way, first SYN/FIN/RST each way */

/* One record in the `events` ring buffer: 80 bytes, no holes. */
struct flow_record {
	__u64 ktime_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;     /* in the network namespace of the device */
	__u32 len;         /* skb->len */
	__u32 drop_reason; /* enum skb_drop_reason, for kind == DROP */
	__u16 vlan_id;     /* outermost VLAN id, 0 when untagged */
	__u16 eth_proto;   /* host order, after VLAN tags */
	__u8 kind;         /* FLOWLOG_KIND_* */
	__u8 direction;    /* FLOWLOG_DIR_* */
	__u8 ip_version;   /* 0 none, 4, 6 */
	__u8 l4_proto;     /* IPPROTO_* after IPv6 extension headers */
	__u8 tcp_flags;    /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */
	__u8 is_reply;     /* FLOWLOG_REPLY_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 saddr[16];    /* IPv4 in the first 4 bytes, network order */
	__u8 daddr[16];
	__u16 sport;       /* host order; 0 when not TCP/UDP/SCTP */
	__u16 dport;
};

/*
 * How much of a DNS message a dns_record carries. 2 KiB holds a whole
 * message on any 1500-byte MTU link (a UDP payload is at most 1472 bytes, a
 * TCP segment's at most 1460) and the 1232-byte EDNS buffer that resolvers
 * have advertised since DNS Flag Day 2020. Larger messages (EDNS buffers
 * of 4096 over fragments, jumbo frames) arrive cut: wire_len > captured.
 */
#define FLOWLOG_DNS_MAX_BYTES 2048

/*
 * One packet to or from a DNS port (the `dns_ports` bitmap) with a payload:
 * the packet's flow_record (kind DNS) and the first bytes of its TCP or UDP
 * payload. 2136 bytes, no holes.
 */
struct dns_record {
	struct flow_record flow;
	__u32 tcp_seq;  /* TCP: sequence number of the first payload byte, host order */
	__u16 wire_len; /* payload bytes: the TCP segment's, the whole UDP datagram's (saturating at 65535) */
	__u16 captured; /* bytes copied into data: min(wire_len, FLOWLOG_DNS_MAX_BYTES) */
	__u8 data[FLOWLOG_DNS_MAX_BYTES];
};

/* The `dns_ports` array: bit (port % 64) of entry (port / 64) marks a DNS port. */
#define FLOWLOG_DNS_PORT_WORDS 1024

/* The single entry of the `config` array map, written by the loader. */
struct flowlog_config {
	__u32 aggregation;              /* FLOWLOG_AGG_* */
	__u32 report_unspecified_drops; /* 1: also report SKB_DROP_REASON_NOT_SPECIFIED */
	__u64 report_interval_ticks;    /* medium aggregation, in jiffies */
};

#ifdef __clang__
_Static_assert(sizeof(struct flow_record) == 80, "flow_record layout changed");
_Static_assert(__builtin_offsetof(struct flow_record, kind) == 24, "flow_record layout changed");
_Static_assert(__builtin_offsetof(struct flow_record, src_mac) == 32, "flow_record layout changed");
_Static_assert(__builtin_offsetof(struct flow_record, saddr) == 44, "flow_record layout changed");
_Static_assert(__builtin_offsetof(struct flow_record, sport) == 76, "flow_record layout changed");
_Static_assert(sizeof(struct flowlog_config) == 16, "flowlog_config layout changed");
_Static_assert(sizeof(struct dns_record) == 88 + FLOWLOG_DNS_MAX_BYTES, "dns_record layout changed");
#endif

#endif /* FLOWLOG_RECORD_H */
