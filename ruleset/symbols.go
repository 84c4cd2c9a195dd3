package ruleset

// Symbolic constants of the data types, with the values and names nft
// uses (datatype.c, ct.c, proto.c, meta.c, fib.c in the nftables sources).
// Bitmask types list their bits in ascending order: that is the order in
// which they print.

var ctStateSyms = []symbol{
	{"invalid", 1}, {"established", 2}, {"related", 4}, {"new", 8}, {"untracked", 64},
}

var ctStatusSyms = []symbol{
	{"expected", 1}, {"seen-reply", 2}, {"assured", 4}, {"confirmed", 8},
	{"snat", 16}, {"dnat", 32}, {"dying", 512},
}

var ctDirSyms = []symbol{{"original", 0}, {"reply", 1}}

var tcpFlagSyms = []symbol{
	{"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08},
	{"ack", 0x10}, {"urg", 0x20}, {"ecn", 0x40}, {"cwr", 0x80},
}

var protoSyms = []symbol{
	{"icmp", 1}, {"igmp", 2}, {"tcp", 6}, {"udp", 17}, {"ipv6", 41}, {"gre", 47},
	{"esp", 50}, {"ah", 51}, {"ipv6-icmp", 58}, {"icmpv6", 58}, {"sctp", 132}, {"udplite", 136},
	{"dccp", 33}, {"comp", 108},
}

// serviceSyms are the common names of /etc/services; ports always print
// as numbers, as nft does by default.
var serviceSyms = []symbol{
	{"ftp-data", 20}, {"ftp", 21}, {"ssh", 22}, {"telnet", 23}, {"smtp", 25},
	{"domain", 53}, {"bootps", 67}, {"bootpc", 68}, {"tftp", 69}, {"http", 80},
	{"kerberos", 88}, {"pop3", 110}, {"sunrpc", 111}, {"ntp", 123}, {"imap", 143},
	{"imap2", 143}, {"snmp", 161}, {"snmp-trap", 162}, {"bgp", 179}, {"ldap", 389},
	{"https", 443}, {"submission", 587}, {"ldaps", 636}, {"imaps", 993},
	{"pop3s", 995}, {"openvpn", 1194}, {"mysql", 3306}, {"postgresql", 5432},
	{"http-alt", 8080},
}

var icmpTypeSyms = []symbol{
	{"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4},
	{"redirect", 5}, {"echo-request", 8}, {"router-advertisement", 9},
	{"router-solicitation", 10}, {"time-exceeded", 11}, {"parameter-problem", 12},
	{"timestamp-request", 13}, {"timestamp-reply", 14}, {"info-request", 15},
	{"info-reply", 16}, {"address-mask-request", 17}, {"address-mask-reply", 18},
}

var icmpCodeSyms = []symbol{
	{"net-unreachable", 0}, {"host-unreachable", 1}, {"prot-unreachable", 2},
	{"port-unreachable", 3}, {"frag-needed", 4}, {"net-prohibited", 9},
	{"host-prohibited", 10}, {"admin-prohibited", 13},
}

var icmpv6TypeSyms = []symbol{
	{"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3},
	{"parameter-problem", 4}, {"echo-request", 128}, {"echo-reply", 129},
	{"mld-listener-query", 130}, {"mld-listener-report", 131}, {"mld-listener-done", 132},
	{"mld-listener-reduction", 132}, {"nd-router-solicit", 133}, {"nd-router-advert", 134},
	{"nd-neighbor-solicit", 135}, {"nd-neighbor-advert", 136}, {"nd-redirect", 137},
	{"router-renumbering", 138}, {"ind-neighbor-solicit", 141}, {"ind-neighbor-advert", 142},
	{"mld2-listener-report", 143},
}

var icmpv6CodeSyms = []symbol{
	{"no-route", 0}, {"admin-prohibited", 1}, {"addr-unreachable", 3},
	{"port-unreachable", 4}, {"policy-fail", 5}, {"reject-route", 6},
}

// icmpxCodeSyms are NFT_REJECT_ICMPX_*: reject codes that mean the same in
// IPv4 and IPv6.
var icmpxCodeSyms = []symbol{
	{"no-route", 0}, {"port-unreachable", 1}, {"host-unreachable", 2}, {"admin-prohibited", 3},
}

var nfprotoSyms = []symbol{{"ipv4", 2}, {"ipv6", 10}}

var pktTypeSyms = []symbol{{"host", 0}, {"broadcast", 1}, {"multicast", 2}, {"other", 3}}

// fibAddrTypeSyms are the kernel's RTN_* route types.
var fibAddrTypeSyms = []symbol{
	{"unspec", 0}, {"unicast", 1}, {"local", 2}, {"broadcast", 3}, {"anycast", 4},
	{"multicast", 5}, {"blackhole", 6}, {"unreachable", 7}, {"prohibit", 8},
}

var dscpSyms = []symbol{
	{"cs0", 0}, {"cs1", 8}, {"af11", 10}, {"af12", 12}, {"af13", 14}, {"cs2", 16},
	{"af21", 18}, {"af22", 20}, {"af23", 22}, {"cs3", 24}, {"af31", 26}, {"af32", 28},
	{"af33", 30}, {"cs4", 32}, {"af41", 34}, {"af42", 36}, {"af43", 38}, {"cs5", 40},
	{"ef", 46}, {"cs6", 48}, {"cs7", 56},
}
