package ruleset

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/nfgo/nfgo/packet"
)

// ParseOptions configure Parse.
type ParseOptions struct {
	// ReadFile reads included files; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// MaxIncludeDepth bounds nested includes; 0 means 16.
	MaxIncludeDepth int
	// Defines are variables defined before the file, as nft -D name=value.
	Defines map[string]string
}

// Parse reads nft syntax, the format of `nft -f`, into commands: table,
// chain, set and map blocks, flat add/create/insert/replace/delete/flush
// commands, define and include (relative to the including file). Errors
// are *Error values naming file:line:col and what was expected.
func Parse(name string, src []byte, opts ParseOptions) ([]Command, error) {
	p := &parser{opts: opts, defines: map[string][]token{}}
	for k, v := range opts.Defines {
		toks, err := lex("<define "+k+">", []byte(v))
		if err != nil {
			return nil, err
		}
		p.defines[k] = toks[:len(toks)-1]
	}
	if err := p.parseFile(name, src, 0); err != nil {
		return nil, err
	}
	return p.cmds, nil
}

type parser struct {
	opts    ParseOptions
	defines map[string][]token
	cmds    []Command

	toks []token
	i    int
	// expansions counts variable expansions, to bound defines that
	// reference each other.
	expansions int
	// keysOnly: map elements may leave out their data (delete element
	// m { 22 }, as nft takes it).
	keysOnly bool
}

// perr stops parsing; parse functions recover it at the file level.
type perr struct{ err *Error }

func (p *parser) fail(pos Pos, format string, args ...any) {
	panic(perr{errorf(pos, format, args...)})
}

func (p *parser) parseFile(name string, src []byte, depth int) (err error) {
	toks, lerr := lex(name, src)
	if lerr != nil {
		return lerr
	}
	saveToks, saveI := p.toks, p.i
	p.toks, p.i = toks, 0
	defer func() {
		p.toks, p.i = saveToks, saveI
		if r := recover(); r != nil {
			pe, ok := r.(perr)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	for {
		p.skipTerminators()
		t := p.peek()
		if t.Kind == tEOF {
			return nil
		}
		p.parseTopLevel(name, depth)
	}
}

// peek returns the current token, expanding $variables in place.
func (p *parser) peek() token {
	for p.toks[p.i].Kind == tVar {
		t := p.toks[p.i]
		val, ok := p.defines[t.Text]
		if !ok {
			p.fail(t.Pos, "unknown identifier '%s'", t.Text)
		}
		p.expansions++
		if p.expansions > 100000 || len(p.toks) > 1<<20 {
			p.fail(t.Pos, "too many variable expansions")
		}
		rest := append(append([]token(nil), val...), p.toks[p.i+1:]...)
		p.toks = append(p.toks[:p.i], rest...)
	}
	return p.toks[p.i]
}

func (p *parser) peekAt(n int) token {
	p.peek()
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.peek()
	if t.Kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.Kind == tWord && t.Text == w
}

func (p *parser) acceptWord(w string) bool {
	if p.isWord(w) {
		p.i++
		return true
	}
	return false
}

func (p *parser) accept(k tokKind) bool {
	if p.peek().Kind == k {
		p.i++
		return true
	}
	return false
}

func (p *parser) unexpected(expecting string) {
	t := p.peek()
	p.fail(t.Pos, "syntax error, unexpected %s, expecting %s", t.describe(), expecting)
}

func (p *parser) expect(k tokKind, expecting string) token {
	if p.peek().Kind != k {
		p.unexpected(expecting)
	}
	return p.next()
}

func (p *parser) expectWord(w string) {
	if !p.acceptWord(w) {
		p.unexpected("'" + w + "'")
	}
}

// name reads the name of a table, chain, set or counter: a word, as nft
// takes it. nft refuses a quoted name, and one with a space or a brace in
// it would not print back to a ruleset that parses.
func (p *parser) name(what string) token {
	if p.peek().Kind != tWord {
		p.unexpected(what)
	}
	return p.next()
}

// nameValue reads a name where nft takes a value, a word or a quoted
// string: an interface (device "eth0"), a counter a rule names (counter
// name "hits").
func (p *parser) nameValue(what string) string {
	t := p.peek()
	if t.Kind != tWord && t.Kind != tString || t.Text == "" {
		p.unexpected(what)
	}
	return p.next().Text
}

func (p *parser) number(what string, bits int) (uint64, Pos) {
	t := p.peek()
	if t.Kind != tWord {
		p.unexpected(what)
	}
	n, err := parseUint(t.Text, bits)
	if err != nil {
		p.fail(t.Pos, "invalid %s %q: %v", what, t.Text, err)
	}
	p.next()
	return n, t.Pos
}

func (p *parser) atTerminator() bool {
	switch p.peek().Kind {
	case tNewline, tSemi, tEOF, tRBrace:
		return true
	}
	return false
}

func (p *parser) endStatement() {
	switch p.peek().Kind {
	case tNewline, tSemi:
		p.next()
	case tEOF, tRBrace:
	default:
		p.unexpected("end of line")
	}
}

func (p *parser) skipTerminators() {
	for {
		k := p.peek().Kind
		if k != tNewline && k != tSemi {
			return
		}
		p.next()
	}
}

func (p *parser) skipNewlines() {
	for p.peek().Kind == tNewline {
		p.next()
	}
}

func (p *parser) parseTopLevel(file string, depth int) {
	t := p.peek()
	if t.Kind != tWord {
		p.unexpected("command")
	}
	switch t.Text {
	case "define", "redefine":
		p.next()
		name := p.expect(tWord, "variable name")
		p.expect(tAssign, "'='")
		var val []token
		level := 0
		for {
			tk := p.peek()
			if tk.Kind == tEOF || level == 0 && (tk.Kind == tNewline || tk.Kind == tSemi) {
				break
			}
			if tk.Kind == tNewline {
				p.next()
				continue
			}
			if tk.Kind == tLBrace {
				level++
			} else if tk.Kind == tRBrace {
				if level == 0 {
					break
				}
				level--
			}
			val = append(val, p.next())
		}
		if len(val) == 0 {
			p.fail(name.Pos, "syntax error, empty definition of '%s'", name.Text)
		}
		p.defines[name.Text] = val
		p.endStatement()
	case "include":
		p.next()
		f := p.expect(tString, "file name in quotes")
		maxDepth := p.opts.MaxIncludeDepth
		if maxDepth == 0 {
			maxDepth = 16
		}
		if depth+1 > maxDepth {
			p.fail(f.Pos, "include nested too deeply")
		}
		path := f.Text
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(file), path)
		}
		read := p.opts.ReadFile
		if read == nil {
			read = os.ReadFile
		}
		src, err := read(path)
		if err != nil {
			p.fail(f.Pos, "cannot include %q: %v", f.Text, err)
		}
		if err := p.parseFile(path, src, depth+1); err != nil {
			panic(perr{err.(*Error)})
		}
		p.endStatement()
	case "add", "create", "insert", "replace", "delete", "flush", "destroy":
		p.next()
		op := map[string]CmdOp{"add": CmdAdd, "create": CmdCreate, "insert": CmdInsert,
			"replace": CmdReplace, "delete": CmdDelete, "flush": CmdFlush, "destroy": CmdDelete}[t.Text]
		p.parseCommand(op, t.Pos)
	case "table", "chain", "set", "map", "rule", "element", "counter":
		p.parseCommand(CmdAdd, t.Pos)
	default:
		p.fail(t.Pos, "syntax error, unexpected %s, expecting command", t.describe())
	}
}

// family reads an optional family keyword; the default is ip.
func (p *parser) family() packet.Family {
	t := p.peek()
	if t.Kind == tWord {
		if f, ok := parseFamily(t.Text); ok {
			p.next()
			return f
		}
		switch t.Text {
		case "arp", "bridge":
			p.fail(t.Pos, "family %s is not supported", t.Text)
		}
	}
	return packet.FamilyIPv4
}

func (p *parser) parseCommand(op CmdOp, pos Pos) {
	objTok := p.expect(tWord, "table, chain, rule, set, map, element, counter or ruleset")
	cmd := Command{Op: op, Pos: pos}
	switch objTok.Text {
	case "ruleset":
		if op != CmdFlush {
			p.fail(objTok.Pos, "syntax error, %s ruleset is not supported", op)
		}
		cmd.Obj = ObjRuleset
		cmd.Family = packet.FamilyUnspec
		if t := p.peek(); t.Kind == tWord {
			if f, ok := parseFamily(t.Text); ok {
				p.next()
				cmd.Family = f
			}
		}
	case "table":
		cmd.Obj = ObjTable
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		if op == CmdAdd || op == CmdCreate {
			cmd.TableSpec = &Table{Family: cmd.Family, Name: cmd.Table}
			if p.accept(tLBrace) {
				p.parseTableBody(cmd.TableSpec)
				p.expect(tRBrace, "'}'")
			}
		} else if op != CmdDelete && op != CmdFlush {
			p.fail(objTok.Pos, "syntax error, %s table is not supported", op)
		}
	case "chain":
		cmd.Obj = ObjChain
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		nt := p.name("chain name")
		cmd.Name = nt.Text
		switch op {
		case CmdAdd, CmdCreate:
			cmd.ChainSpec = &Chain{Name: cmd.Name, Pos: nt.Pos}
			if p.accept(tLBrace) {
				p.parseChainBody(cmd.ChainSpec, cmd.Family)
				p.expect(tRBrace, "'}'")
			}
		case CmdDelete, CmdFlush:
		default:
			p.fail(objTok.Pos, "syntax error, %s chain is not supported", op)
		}
	case "rule":
		cmd.Obj = ObjRule
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		cmd.Name = p.name("chain name").Text
		if p.acceptWord("handle") || p.acceptWord("position") {
			cmd.Handle, _ = p.number("rule handle", 64)
		} else if op == CmdReplace || op == CmdDelete {
			p.unexpected("'handle'")
		} else if p.acceptWord("index") {
			n, _ := p.number("rule index", 31)
			cmd.Index = int(n) + 1
		}
		switch op {
		case CmdAdd, CmdCreate, CmdInsert, CmdReplace:
			if op == CmdCreate {
				p.fail(objTok.Pos, "syntax error, create rule is not supported")
			}
			cmd.Rule = p.parseRule(cmd.Family)
		case CmdDelete:
		default:
			p.fail(objTok.Pos, "syntax error, %s rule is not supported", op)
		}
	case "set", "map":
		cmd.Obj = ObjSet
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		nt := p.name("set name")
		cmd.Name = nt.Text
		switch op {
		case CmdAdd, CmdCreate:
			s := &Set{Name: cmd.Name, IsMap: objTok.Text == "map", Pos: nt.Pos}
			p.expect(tLBrace, "'{'")
			p.parseSetBody(s)
			p.expect(tRBrace, "'}'")
			cmd.SetSpec = s
		case CmdDelete, CmdFlush:
		default:
			p.fail(objTok.Pos, "syntax error, %s %s is not supported", op, objTok.Text)
		}
	case "element":
		cmd.Obj = ObjElement
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		cmd.Name = p.name("set name").Text
		if op != CmdAdd && op != CmdCreate && op != CmdDelete {
			p.fail(objTok.Pos, "syntax error, %s element is not supported", op)
		}
		lb := p.peek()
		if lb.Kind != tLBrace {
			p.unexpected("'{'")
		}
		cmd.Elems = []*Elem{{Key: &rawElems{toks: p.rawBraces(), pos: lb.Pos}}}
	case "counter":
		cmd.Obj = ObjCounter
		cmd.Family = p.family()
		cmd.Table = p.name("table name").Text
		nt := p.name("counter name")
		cmd.Name = nt.Text
		switch op {
		case CmdAdd, CmdCreate:
			cmd.CounterSpec = p.parseCounterBody(nt)
		case CmdDelete:
		default:
			p.fail(objTok.Pos, "syntax error, %s counter is not supported", op)
		}
	default:
		p.fail(objTok.Pos, "syntax error, unexpected %s, expecting table, chain, rule, set, map, element, counter or ruleset", objTok.describe())
	}
	p.endStatement()
	p.cmds = append(p.cmds, cmd)
}

// rawBraces takes the tokens of a { ... } group as they are, for elements
// whose types are known only when the command is applied.
func (p *parser) rawBraces() []token {
	var out []token
	level := 0
	for {
		t := p.peek()
		if t.Kind == tEOF {
			p.unexpected("'}'")
		}
		p.next()
		out = append(out, t)
		if t.Kind == tLBrace {
			level++
		} else if t.Kind == tRBrace {
			level--
			if level == 0 {
				out = append(out, token{Kind: tEOF, Pos: t.Pos})
				return out
			}
		}
	}
}

// rawElems stands for elements not yet typed (add element commands).
type rawElems struct {
	toks []token
	pos  Pos
}

func (*rawElems) exprNode()                   {}
func (r *rawElems) write(sb *strings.Builder) { sb.WriteString("{ ... }") }

func (p *parser) parseCounterBody(nt token) *NamedCounter {
	c := &NamedCounter{Name: nt.Text, Pos: nt.Pos}
	var packets, bytes uint64
	if p.accept(tLBrace) {
		for {
			p.skipTerminators()
			if p.accept(tRBrace) {
				break
			}
			switch {
			case p.acceptWord("packets"):
				packets, _ = p.number("packet count", 64)
			case p.acceptWord("bytes"):
				bytes, _ = p.number("byte count", 64)
			case p.acceptWord("comment"):
				c.Comment = p.expect(tString, "comment string").Text
			default:
				p.unexpected("packets, bytes, comment or '}'")
			}
		}
	}
	c.state = newCounterState(packets, bytes)
	return c
}
