package hooks

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nfgo/nfgo/packet"
)

// Errors returned by Register and Unregister.
var (
	ErrBadFamily     = errors.New("hooks: family not valid for this hook")
	ErrBadHook       = errors.New("hooks: unknown hook")
	ErrNoFunc        = errors.New("hooks: ops has neither Func nor Batch")
	ErrNotRegistered = errors.New("hooks: ops not registered")
	ErrRegistered    = errors.New("hooks: ops already registered")
)

// State is what a callback knows of the walk that calls it, as the
// kernel's nf_hook_state. The packet itself carries its family and
// interfaces.
type State struct {
	Hook Hook
	// Worker is the index of the engine worker running the walk, for
	// callbacks that keep per-worker state (0 is the engine's path for
	// injected and re-injected packets). Workers run concurrently; one
	// worker runs one walk at a time.
	Worker int
}

// Func is a per-packet callback.
type Func func(p *packet.Packet, s *State) Verdict

// BatchFunc is a callback that sees every live packet of a batch in one call
// and writes one verdict per packet, so it can hash or probe the whole batch
// before any of it waits on memory.
type BatchFunc func(pkts []*packet.Packet, verdicts []Verdict, s *State)

// Ops describes one callback on one hook, as the kernel's nf_hook_ops.
type Ops struct {
	Name     string
	Family   packet.Family // FamilyIPv4, FamilyIPv6, FamilyInet (both); FamilyNetdev only at Ingress
	Hook     Hook
	Priority Priority
	Device   uint32    // interface index, for Ingress
	Func     Func      // called per packet, unless Batch is set
	Batch    BatchFunc // called per batch
}

// List is an immutable, priority-ordered snapshot of one hook's entries.
type List struct {
	ops []*Ops
}

// Len is the number of entries; a nil List has none.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.ops)
}

// Ops is the i-th entry in running order.
func (l *List) Ops(i int) *Ops { return l.ops[i] }

// Registry holds the hook lists of one engine.
type Registry struct {
	mu      sync.Mutex // serializes writers; readers take no lock
	inet    [2][NumInetHooks]atomic.Pointer[List]
	ingress atomic.Pointer[map[uint32]*List]
}

// NewRegistry returns a registry with every list empty.
func NewRegistry() *Registry { return &Registry{} }

func familyIndex(f packet.Family) (int, bool) {
	switch f {
	case packet.FamilyIPv4:
		return 0, true
	case packet.FamilyIPv6:
		return 1, true
	}
	return 0, false
}

// List is the current list for a family (FamilyIPv4 or FamilyIPv6) and a
// per-family hook. It may be nil, which runs as empty.
func (r *Registry) List(f packet.Family, h Hook) *List {
	fi, ok := familyIndex(f)
	if !ok || h >= NumInetHooks {
		return nil
	}
	return r.inet[fi][h].Load()
}

// IngressList is the current ingress list of interface dev.
func (r *Registry) IngressList(dev uint32) *List {
	m := r.ingress.Load()
	if m == nil {
		return nil
	}
	return (*m)[dev]
}

// Register adds ops to its hook. FamilyInet registers on both the IPv4 and
// the IPv6 list. Entries run in priority order, ties in registration order.
func (r *Registry) Register(ops *Ops) error {
	return r.update(ops, true)
}

// Unregister removes ops, found by identity, from its hook.
func (r *Registry) Unregister(ops *Ops) error {
	return r.update(ops, false)
}

func (r *Registry) update(ops *Ops, add bool) error {
	if ops.Func == nil && ops.Batch == nil {
		return ErrNoFunc
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ops.Hook == Ingress {
		if ops.Family != packet.FamilyNetdev && ops.Family != packet.FamilyInet {
			return fmt.Errorf("%w: %s at ingress", ErrBadFamily, ops.Family)
		}
		old := r.ingress.Load()
		m := make(map[uint32]*List)
		if old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		l, err := edit(m[ops.Device], ops, add)
		if err != nil {
			return err
		}
		if l.Len() == 0 {
			delete(m, ops.Device)
		} else {
			m[ops.Device] = l
		}
		r.ingress.Store(&m)
		return nil
	}
	if ops.Hook >= NumInetHooks {
		return fmt.Errorf("%w: %d", ErrBadHook, ops.Hook)
	}
	var fams []int
	switch ops.Family {
	case packet.FamilyIPv4:
		fams = []int{0}
	case packet.FamilyIPv6:
		fams = []int{1}
	case packet.FamilyInet:
		fams = []int{0, 1}
	default:
		return fmt.Errorf("%w: %s at %s", ErrBadFamily, ops.Family, ops.Hook)
	}
	// Build every new list before publishing any, so that a failure
	// changes nothing.
	next := make([]*List, len(fams))
	for i, fi := range fams {
		l, err := edit(r.inet[fi][ops.Hook].Load(), ops, add)
		if err != nil {
			return err
		}
		next[i] = l
	}
	for i, fi := range fams {
		r.inet[fi][ops.Hook].Store(next[i])
	}
	return nil
}

// edit returns a copy of l with ops inserted or removed.
func edit(l *List, ops *Ops, add bool) (*List, error) {
	var cur []*Ops
	if l != nil {
		cur = l.ops
	}
	at := slices.Index(cur, ops)
	if !add {
		if at < 0 {
			return nil, ErrNotRegistered
		}
		return &List{ops: slices.Delete(slices.Clone(cur), at, at+1)}, nil
	}
	if at >= 0 {
		return nil, ErrRegistered
	}
	// Insert after every entry of lower or equal priority: ties keep
	// registration order.
	pos := len(cur)
	for i, o := range cur {
		if o.Priority > ops.Priority {
			pos = i
			break
		}
	}
	return &List{ops: slices.Insert(slices.Clone(cur), pos, ops)}, nil
}
