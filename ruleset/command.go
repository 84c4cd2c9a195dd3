package ruleset

import "github.com/nfgo/nfgo/packet"

// CmdOp is what a command does.
type CmdOp uint8

const (
	CmdAdd     CmdOp = iota // add (also the implicit op of `table x { }`)
	CmdCreate               // like add, but the object must not exist
	CmdInsert               // rules: at the start, or before a handle
	CmdReplace              // rules: in place of a handle
	CmdDelete
	CmdFlush
)

var cmdOpNames = [...]string{"add", "create", "insert", "replace", "delete", "flush"}

func (o CmdOp) String() string { return cmdOpNames[o] }

// CmdObj is what a command works on.
type CmdObj uint8

const (
	ObjRuleset CmdObj = iota
	ObjTable
	ObjChain
	ObjRule
	ObjSet // sets and maps
	ObjElement
	ObjCounter
)

var cmdObjNames = [...]string{"ruleset", "table", "chain", "rule", "set", "element", "counter"}

func (o CmdObj) String() string { return cmdObjNames[o] }

// Command is one command of an nft file. A `table NAME { ... }` block is
// one add command carrying the whole table.
type Command struct {
	Op     CmdOp
	Obj    CmdObj
	Family packet.Family
	Table  string
	Name   string // chain, set or counter name
	Index  int    // rules: 1 + the index given with `index N`; 0 when none
	Handle uint64 // rule handle (delete, replace, insert/add position); table/chain/set handle for delete
	Pos    Pos

	TableSpec   *Table        // ObjTable: the block's contents (chains, sets, counters with rules and elements)
	ChainSpec   *Chain        // ObjChain: its base spec and rules
	SetSpec     *Set          // ObjSet
	Rule        *Rule         // ObjRule
	Elems       []*Elem       // ObjElement
	CounterSpec *NamedCounter // ObjCounter
}
