package hooks

import (
	"math"
	"strconv"
)

// Hook is a hook point, numbered as the kernel's enum nf_inet_hooks.
type Hook uint8

const (
	Prerouting  Hook = 0 // NF_INET_PRE_ROUTING
	Input       Hook = 1 // NF_INET_LOCAL_IN
	Forward     Hook = 2 // NF_INET_FORWARD
	Output      Hook = 3 // NF_INET_LOCAL_OUT
	Postrouting Hook = 4 // NF_INET_POST_ROUTING
	Ingress     Hook = 5 // NF_INET_INGRESS / NF_NETDEV_INGRESS: one list per interface

	// NumInetHooks is the number of per-family hooks (all but Ingress).
	NumInetHooks = 5
)

func (h Hook) String() string {
	switch h {
	case Prerouting:
		return "prerouting"
	case Input:
		return "input"
	case Forward:
		return "forward"
	case Output:
		return "output"
	case Postrouting:
		return "postrouting"
	case Ingress:
		return "ingress"
	}
	return "hook(" + strconv.Itoa(int(h)) + ")"
}

// Priority orders the entries of one hook: lower runs first.
type Priority int32

// The kernel's standard priorities (enum nf_ip_hook_priorities).
const (
	PriorityFirst            Priority = math.MinInt32
	PriorityConntrackDefrag  Priority = -400
	PriorityRaw              Priority = -300
	PrioritySELinuxFirst     Priority = -225
	PriorityConntrack        Priority = -200
	PriorityMangle           Priority = -150
	PriorityNATDst           Priority = -100
	PriorityFilter           Priority = 0
	PrioritySecurity         Priority = 50
	PriorityNATSrc           Priority = 100
	PrioritySELinuxLast      Priority = 225
	PriorityConntrackHelper  Priority = 300
	PriorityConntrackConfirm Priority = math.MaxInt32
	PriorityLast             Priority = math.MaxInt32
)
