// SPDX-License-Identifier: GPL-2.0 OR MIT
// dnsleak: which program sends each DNS socket's packets.
//
// fentry/fexit do not load on every kernel that has BTF (EPERM on the 6.18 machines this was
// written on), so this uses cgroup-BPF and BTF tracepoints only:
//
//   cgroup/sock_create, cgroup/connect4|6, cgroup/sendmsg4|6   (attached to the cgroup v2 root)
//       run in the calling process (socket(), connect(), sendto()): remember the socket's
//       owner (pid, uid, thread name) by socket cookie in `owners`
//   cgroup/sock_release   forgets it
//   tp_btf/net_dev_queue  every packet handed to a device, before any packet socket (libpcap)
//       can see it: for a packet of a socket whose peer port is wanted (DNS, DoT, DoH, ...),
//       write the on-wire 5-tuple, the socket's network namespace and its owner to the ring
//   tp_btf/sched_process_exec  the program name and executable path of every exec
//
// The owner comes from the map, never from the task running net_dev_queue (that may be a
// softirq sending a packet that waited for ARP). A record is in the ring before its packet can
// be captured. UDP and TCP records are written once per socket and peer per `reemit_ns` (an LRU
// map remembers), so a flood from one socket costs one record a second.
// Struct layouts are CO-RE relocated against the running kernel's BTF.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define TASK_COMM_LEN 16
#define EXE_LEN 256

#define KIND_UDP 1
#define KIND_TCP 2
#define KIND_EXEC 3
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

typedef struct {
	__s64 counter;
} atomic64_t;

struct sock_common {
	possible_net_t skc_net;
	atomic64_t skc_cookie;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct sock *sk;
	unsigned char *head;
	__u16 transport_header;
	__u16 network_header;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	char comm[TASK_COMM_LEN];
	struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));

// Who owns a socket: the process that last created, connected or sent with it.
struct owner {
	__u32 tgid;
	__u32 uid;
	char thread[TASK_COMM_LEN];
};

// One socket record (KIND_UDP, KIND_TCP). Read by src/system/processes/ebpf.rs: keep in step.
struct sock_rec {
	__u8 kind;
	__u8 family;  // 4 or 6
	__u16 sport;  // host order
	__u16 dport;  // host order
	__u16 pad;
	__u32 netns;
	__u32 tgid;  // 0: the socket's owner is not known (it predates the loader)
	__u32 uid;
	__u32 pad2;
	__u64 ts_ns;  // CLOCK_MONOTONIC
	__u64 cookie;
	__u8 saddr[16];
	__u8 daddr[16];
	char thread[TASK_COMM_LEN];  // the owning thread's name
};

// One exec record (KIND_EXEC).
struct exec_rec {
	__u8 kind;
	__u8 pad[3];
	__u32 tgid;
	__u32 netns;
	__u32 len;
	__u64 ts_ns;
	char comm[TASK_COMM_LEN];
	char exe[EXE_LEN];
};

struct seen_key {
	__u64 cookie;
	__u8 daddr[16];
	__u16 dport;
	__u16 sport;
	__u32 pad;
};

// Filled in by the loader before load.
volatile const __u32 target_netns = 0;  // 0: every namespace
volatile const __u64 reemit_ns = 1000000000ULL;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} records SEC(".maps");

// Peer ports worth a record (DNS, DoT/DoQ, DoH/QUIC, mDNS, LLMNR): set by the loader.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct seen_key);
	__type(value, __u64);
} seen SEC(".maps");

// [0] records lost (ring full), [1] records written, [2] records without a known owner.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &which);
	if (c)
		*c += 1;
}

static __always_inline void remember_owner(__u64 cookie)
{
	struct owner o = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	o.tgid = pid_tgid >> 32;
	o.uid = (__u32)bpf_get_current_uid_gid();
	struct owner *old = bpf_map_lookup_elem(&owners, &cookie);
	if (old && old->tgid == o.tgid)
		return;
	bpf_get_current_comm(o.thread, sizeof(o.thread));
	bpf_map_update_elem(&owners, &cookie, &o, BPF_ANY);
}

static __always_inline int inet_l4(struct bpf_sock *sk)
{
	return (sk->family == AF_INET || sk->family == AF_INET6) &&
	       (sk->protocol == IPPROTO_UDP || sk->protocol == IPPROTO_TCP);
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *sk)
{
	if (inet_l4(sk))
		remember_owner(bpf_get_socket_cookie(sk));
	return 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *sk)
{
	if (inet_l4(sk)) {
		__u64 cookie = bpf_get_socket_cookie(sk);
		bpf_map_delete_elem(&owners, &cookie);
	}
	return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	remember_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	remember_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	remember_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	remember_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

// Whether this socket and peer were reported within reemit_ns; remembers now if not.
static __always_inline int seen_recently(struct sock_rec *r)
{
	struct seen_key k = {};
	k.cookie = r->cookie;
	__builtin_memcpy(k.daddr, r->daddr, 16);
	k.dport = r->dport;
	k.sport = r->sport;
	__u64 *last = bpf_map_lookup_elem(&seen, &k);
	if (last && r->ts_ns - *last < reemit_ns)
		return 1;
	bpf_map_update_elem(&seen, &k, &r->ts_ns, BPF_ANY);
	return 0;
}

// Reads the addresses and ports of a packet of `proto` into `r`; 0 when it has no ports
// (a later fragment) or cannot be read.
static __always_inline int read_tuple(struct sk_buff *skb, __u16 proto, struct sock_rec *r)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *nh = head + BPF_CORE_READ(skb, network_header);
	unsigned char *th = head + BPF_CORE_READ(skb, transport_header);
	__u8 ip[40];
	__be16 p[2];
	if (bpf_probe_read_kernel(ip, 20, nh))
		return 0;
	if ((ip[0] >> 4) == 4) {
		if (ip[9] != proto || (((ip[6] & 0x1f) << 8) | ip[7]) != 0)
			return 0;
		r->family = 4;
		__builtin_memcpy(r->saddr, ip + 12, 4);
		__builtin_memcpy(r->daddr, ip + 16, 4);
	} else if ((ip[0] >> 4) == 6) {
		if (bpf_probe_read_kernel(ip, 40, nh))
			return 0;
		if (ip[6] == 44) {  // a fragment header: only the first fragment has the ports
			__u8 frag[4];
			if (bpf_probe_read_kernel(frag, 4, nh + 40) || ((frag[2] << 8) | (frag[3] & 0xf8)) != 0)
				return 0;
		}
		r->family = 6;
		__builtin_memcpy(r->saddr, ip + 8, 16);
		__builtin_memcpy(r->daddr, ip + 24, 16);
	} else {
		return 0;
	}
	if (bpf_probe_read_kernel(p, 4, th))
		return 0;
	r->sport = bpf_ntohs(p[0]);
	r->dport = bpf_ntohs(p[1]);
	return 1;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(dev_queue, struct sk_buff *skb)
{
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (!sk)
		return 0;
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 0;
	__u32 netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (target_netns != 0 && target_netns != netns)
		return 0;
	struct sock_rec rec = {};
	if (!read_tuple(skb, proto, &rec))
		return 0;
	if (!bpf_map_lookup_elem(&ports, &rec.dport))
		return 0;
	rec.kind = proto == IPPROTO_UDP ? KIND_UDP : KIND_TCP;
	rec.netns = netns;
	rec.ts_ns = bpf_ktime_get_ns();
	rec.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (seen_recently(&rec))
		return 0;
	struct owner *o = bpf_map_lookup_elem(&owners, &rec.cookie);
	if (o) {
		rec.tgid = o->tgid;
		rec.uid = o->uid;
		__builtin_memcpy(rec.thread, o->thread, sizeof(rec.thread));
	} else {
		count(2);
	}
	if (bpf_ringbuf_output(&records, &rec, sizeof(rec), 0)) {
		count(0);
		return 0;
	}
	count(1);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	__u32 netns = BPF_CORE_READ(p, nsproxy, net_ns, ns.inum);
	if (target_netns != 0 && target_netns != netns)
		return 0;
	struct exec_rec *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		count(0);
		return 0;
	}
	r->kind = KIND_EXEC;
	r->tgid = BPF_CORE_READ(p, tgid);
	r->netns = netns;
	r->ts_ns = bpf_ktime_get_ns();
	bpf_probe_read_kernel(r->comm, sizeof(r->comm), &p->comm);
	long n = bpf_probe_read_kernel_str(r->exe, sizeof(r->exe), BPF_CORE_READ(bprm, filename));
	r->len = n > 0 ? n - 1 : 0;
	bpf_ringbuf_submit(r, 0);
	count(1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
