package ruleset

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
)

// SetFlags are the flags of a named set.
type SetFlags uint8

const (
	SetConstant SetFlags = 1 << iota // elements fixed at creation
	SetInterval                      // elements may be prefixes and ranges
	SetTimeout                       // elements may expire
)

// Set is a named set or map of a table. Its elements live behind an atomic
// pointer (copy on write) so that they can change while packets flow,
// without a new Ruleset.
type Set struct {
	Name    string
	Handle  uint64
	Key     []Field // one per part of a concatenation
	IsMap   bool
	Data    Field // the map's data type; TypeVerdict for a verdict map
	Flags   SetFlags
	Timeout Duration // default timeout of its elements
	Size    uint32
	// PolicyMemory is policy memory: kept and printed, it changes
	// nothing in nfgo (the kernel picks a smaller set backend).
	PolicyMemory bool
	Comment      string
	Pos          Pos

	// Elems are the elements a declaration or command lists; once the set
	// is in a Ruleset its elements are read with Elements.
	Elems []*Elem

	contents atomic.Pointer[setData]
}

func (s *Set) data() *setData { return s.contents.Load() }

// Elements are the set's current elements, sorted, without expired ones
// as of now (unix nanoseconds).
func (s *Set) Elements(now int64) []*Elem {
	d := s.data()
	if d == nil {
		return nil
	}
	out := make([]*Elem, 0, len(d.elems))
	for _, e := range d.elems {
		if e.expires == 0 || e.expires > now {
			out = append(out, e)
		}
	}
	return out
}

// setData is one immutable version of a set's elements and its index.
type setData struct {
	fields   []Field
	interval bool
	elems    []*Elem        // sorted by key
	exact    map[string]int // key to elems index; single-value elements
	ivs      []ival         // interval elements, sorted by lo
}

type ival struct {
	lo, hi []byte
	idx    int
}

// Sentinel errors of set changes; callers test them with errors.Is.
var (
	ErrElemExists   = errors.New("element already exists")
	ErrElemNotFound = errors.New("element does not exist")
)

// buildSetData indexes elems (which must already have the set's types).
func buildSetData(fields []Field, elems []*Elem, interval bool, now int64) (*setData, error) {
	d := &setData{fields: fields, interval: interval, exact: map[string]int{}}
	type keyed struct {
		e      *Elem
		lo, hi []byte
	}
	ks := make([]keyed, 0, len(elems))
	seen := map[string]bool{}
	for _, e := range elems {
		if e.expires != 0 && e.expires <= now {
			continue
		}
		lo, hi := elemBounds(e.Key)
		id := string(lo) + "\x00" + string(hi)
		if seen[id] {
			continue
		}
		seen[id] = true
		if !bytes.Equal(lo, hi) && !interval {
			return nil, fmt.Errorf("element %s is an interval, but the set does not have the interval flag", ExprString(e.Key))
		}
		ks = append(ks, keyed{e, lo, hi})
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if c := bytes.Compare(ks[i].lo, ks[j].lo); c != 0 {
			return c < 0
		}
		return bytes.Compare(ks[i].hi, ks[j].hi) < 0
	})
	for i, k := range ks {
		d.elems = append(d.elems, k.e)
		if bytes.Equal(k.lo, k.hi) && len(fields) == 1 && !interval {
			d.exact[string(k.lo)] = i
			continue
		}
		if bytes.Equal(k.lo, k.hi) && len(fields) > 1 && !interval {
			d.exact[string(k.lo)] = i
			continue
		}
		d.ivs = append(d.ivs, ival{k.lo, k.hi, i})
	}
	if len(fields) == 1 {
		for i := 1; i < len(d.ivs); i++ {
			if bytes.Compare(d.ivs[i].lo, d.ivs[i-1].hi) <= 0 {
				return nil, fmt.Errorf("conflicting intervals specified: %s and %s",
					ExprString(d.elems[d.ivs[i-1].idx].Key), ExprString(d.elems[d.ivs[i].idx].Key))
			}
		}
	}
	return d, nil
}

// lookup finds the element that holds key and has not expired at now.
func (d *setData) lookup(key []byte, now int64) (*Elem, bool) {
	if d == nil {
		return nil, false
	}
	if i, ok := d.exact[string(key)]; ok {
		e := d.elems[i]
		if e.expires == 0 || e.expires > now {
			return e, true
		}
		return nil, false
	}
	if len(d.ivs) == 0 {
		return nil, false
	}
	if len(d.fields) == 1 {
		// The intervals do not overlap: the candidate is the last one
		// starting at or below key.
		i := sort.Search(len(d.ivs), func(i int) bool { return bytes.Compare(d.ivs[i].lo, key) > 0 }) - 1
		if i >= 0 && bytes.Compare(key, d.ivs[i].hi) <= 0 {
			e := d.elems[d.ivs[i].idx]
			if e.expires == 0 || e.expires > now {
				return e, true
			}
		}
		return nil, false
	}
	for _, iv := range d.ivs {
		if inBounds(key, iv.lo, iv.hi, d.fields) {
			e := d.elems[iv.idx]
			if e.expires == 0 || e.expires > now {
				return e, true
			}
		}
	}
	return nil, false
}

// with returns a copy of d with elems added (add) or removed.
func (d *setData) with(elems []*Elem, add, mustNotExist bool, now int64) (*setData, error) {
	cur := append([]*Elem(nil), d.elems...)
	index := map[string]int{}
	for i, e := range cur {
		lo, hi := elemBounds(e.Key)
		index[string(lo)+"\x00"+string(hi)] = i
	}
	removed := map[int]bool{}
	for _, e := range elems {
		lo, hi := elemBounds(e.Key)
		id := string(lo) + "\x00" + string(hi)
		i, ok := index[id]
		live := ok && !removed[i] && (cur[i].expires == 0 || cur[i].expires > now)
		if add {
			if live {
				if mustNotExist {
					return nil, fmt.Errorf("%s: %w", ExprString(e.Key), ErrElemExists)
				}
				continue
			}
			if ok {
				removed[i] = true
			}
			index[id] = len(cur)
			cur = append(cur, e)
			continue
		}
		if !live {
			return nil, fmt.Errorf("%s: %w", ExprString(e.Key), ErrElemNotFound)
		}
		removed[i] = true
	}
	kept := cur[:0:0]
	for i, e := range cur {
		if !removed[i] {
			kept = append(kept, e)
		}
	}
	return buildSetData(d.fields, kept, d.interval, now)
}

// keyTypeString prints a set's key as its declaration does.
func keyTypeString(fs []Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Type.String()
	}
	return strings.Join(parts, " . ")
}

// elemDelim is how nft's calculate_delim separates the elements of a
// named set: short types several to a line, the others one per line.
func elemDelim(f Field, count *int) string {
	per := 1
	switch f.Type {
	case TypeNFProto, TypeInteger, TypeInetProto, TypeInetService, TypeTCPFlags,
		TypeMark, TypeIfindex, TypeCTDir:
		per = 5
	case TypeIPv4Addr, TypeCTState, TypeCTStatus, TypePktType:
		per = 2
	}
	if *count < per {
		return ", "
	}
	*count = 0
	return ",\n\t\t\t     "
}
