package ruleset

import (
	"strconv"
)

type tokKind uint8

const (
	tEOF     tokKind = iota
	tNewline         // end of line
	tSemi            // ;
	tWord            // names, numbers, addresses, 10/second, 22-80, eth*
	tString          // "quoted", Text without the quotes
	tVar             // $name, Text is the name
	tAt              // @name, Text is the name
	tLBrace
	tRBrace
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tColon // a lone ':'
	tDot   // a lone '.'
	tSlash // a lone '/'
	tAssign
	tEqEq
	tNeq
	tBang
	tLt
	tGt
	tLe
	tGe
	tAmp
	tPipe
)

var tokNames = [...]string{
	tEOF: "end of file", tNewline: "newline", tSemi: "';'", tWord: "word", tString: "string",
	tVar: "variable", tAt: "set reference", tLBrace: "'{'", tRBrace: "'}'", tLParen: "'('",
	tRParen: "')'", tLBrack: "'['", tRBrack: "']'", tComma: "','", tColon: "':'", tDot: "'.'",
	tSlash: "'/'", tAssign: "'='", tEqEq: "'=='", tNeq: "'!='", tBang: "'!'", tLt: "'<'",
	tGt: "'>'", tLe: "'<='", tGe: "'>='", tAmp: "'&'", tPipe: "'|'",
}

type token struct {
	Kind tokKind
	Text string
	Pos  Pos
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.Kind {
	case tWord:
		return strconv.Quote(t.Text)
	case tString:
		return "string " + strconv.Quote(t.Text)
	case tVar:
		return "$" + t.Text
	case tAt:
		return "@" + t.Text
	}
	return tokNames[t.Kind]
}

func isWordChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '.', ':', '/', '-', '*', '+', '%':
		return true
	}
	return false
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// lex splits src into tokens.
func lex(file string, src []byte) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n; k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		pos := Pos{File: file, Line: line, Col: col}
		emit := func(k tokKind, text string, n int) {
			toks = append(toks, token{Kind: k, Text: text, Pos: pos})
			adv(n)
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			adv(1)
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			adv(2)
		case c == '\n':
			emit(tNewline, "", 1)
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				adv(1)
			}
		case c == ';':
			emit(tSemi, "", 1)
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, errorf(pos, "syntax error, unterminated string")
			}
			emit(tString, string(src[i+1:j]), j+1-i)
		case c == '$' || c == '@':
			j := i + 1
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			if j == i+1 {
				return nil, errorf(pos, "syntax error, expected a name after %q", string(c))
			}
			k := tVar
			if c == '@' {
				k = tAt
			}
			emit(k, string(src[i+1:j]), j-i)
		case c == '{':
			emit(tLBrace, "", 1)
		case c == '}':
			emit(tRBrace, "", 1)
		case c == '(':
			emit(tLParen, "", 1)
		case c == ')':
			emit(tRParen, "", 1)
		case c == '[':
			emit(tLBrack, "", 1)
		case c == ']':
			emit(tRBrack, "", 1)
		case c == ',':
			emit(tComma, "", 1)
		case c == '&':
			emit(tAmp, "", 1)
		case c == '|':
			emit(tPipe, "", 1)
		case c == '=':
			if i+1 < len(src) && src[i+1] == '=' {
				emit(tEqEq, "", 2)
			} else {
				emit(tAssign, "", 1)
			}
		case c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				emit(tNeq, "", 2)
			} else {
				emit(tBang, "", 1)
			}
		case c == '<':
			if i+1 < len(src) && src[i+1] == '=' {
				emit(tLe, "", 2)
			} else {
				emit(tLt, "", 1)
			}
		case c == '>':
			if i+1 < len(src) && src[i+1] == '=' {
				emit(tGe, "", 2)
			} else {
				emit(tGt, "", 1)
			}
		case isWordChar(c):
			j := i
			for j < len(src) && isWordChar(src[j]) {
				j++
			}
			w := string(src[i:j])
			switch w {
			case ":":
				emit(tColon, "", 1)
			case ".":
				emit(tDot, "", 1)
			case "/":
				emit(tSlash, "", 1)
			default:
				emit(tWord, w, j-i)
			}
		default:
			return nil, errorf(pos, "syntax error, unexpected character %q", string(rune(c)))
		}
	}
	toks = append(toks, token{Kind: tEOF, Pos: Pos{File: file, Line: line, Col: col}})
	return toks, nil
}
