package config

import (
	"fmt"
	"strings"
)

// maxNesting bounds block depth; keepalived's deepest real nesting is
// virtual_server > real_server > HTTP_GET > url, four levels.
const maxNesting = 32

// Node is one statement of a configuration file: a keyword, its arguments
// and, when it opened a { } block, the statements inside. Blocks ulvs
// does not interpret yet (vrrp_instance, checkers, ...) are kept as Nodes
// so that later stages can give them behaviour without reparsing.
type Node struct {
	Pos      Pos
	Keyword  string
	Args     []string
	Block    bool // the statement opened a { } block (possibly empty)
	Children []*Node
}

// String renders the node and its block in keepalived syntax, one
// statement per line, indented by depth. Arguments that need it are
// quoted.
func (n *Node) String() string {
	var b strings.Builder
	n.write(&b, 0)
	return b.String()
}

func (n *Node) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("    ", depth))
	b.WriteString(quoteIfNeeded(n.Keyword))
	for _, a := range n.Args {
		b.WriteByte(' ')
		b.WriteString(quoteIfNeeded(a))
	}
	if n.Block {
		b.WriteString(" {\n")
		for _, c := range n.Children {
			c.write(b, depth+1)
		}
		b.WriteString(strings.Repeat("    ", depth))
		b.WriteString("}")
	}
	b.WriteByte('\n')
}

func quoteIfNeeded(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"#!{}\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Find returns the first child with the keyword, or nil.
func (n *Node) Find(keyword string) *Node {
	for _, c := range n.Children {
		if c.Keyword == keyword {
			return c
		}
	}
	return nil
}

// buildTree folds logical lines into a statement tree. A '{' attaches to
// the statement before it on the same line or, when it starts a line, to
// the statement that made up the whole previous line, as keepalived
// allows; '}' closes the innermost block and may be followed by more
// statements on the same line.
//
// With warn set, brace mistakes keepalived runs past are warnings, as
// there: a '{' with no keyword opens a block that is left out, a surplus
// '}' is ignored, and blocks still open at the end are closed there.
// Nesting deeper than maxNesting is always an error.
func buildTree(lines []line, warn func(Warning)) (*Node, error) {
	root := &Node{Block: true}
	stack := []*Node{root}
	var prevLine *Node // statement that ended the previous line, if any
	for _, ln := range lines {
		top := stack[len(stack)-1]
		var cur *Node
		for _, t := range ln.toks {
			switch t.kind {
			case tokWord:
				if cur == nil {
					cur = &Node{Pos: ln.pos, Keyword: t.text}
					top.Children = append(top.Children, cur)
				} else {
					cur.Args = append(cur.Args, t.text)
				}
			case tokOpen:
				target := cur
				if target == nil {
					target = prevLine
				}
				if target == nil && warn == nil {
					return nil, &Error{Pos: ln.pos, Msg: "'{' with no keyword before it",
						Hint: "put the block's keyword before '{', e.g. real_server 10.0.0.1 80 {"}
				}
				if target == nil {
					warn(Warning{Pos: ln.pos, Msg: "'{' with no keyword before it; the block is left out, as keepalived ignores it"})
					target = &Node{Pos: ln.pos} // not attached to the tree
				}
				if len(stack) > maxNesting {
					return nil, &Error{Pos: ln.pos, Keyword: target.Keyword,
						Msg: fmt.Sprintf("blocks nested deeper than %d levels", maxNesting), Hint: "check for missing '}'"}
				}
				target.Block = true
				stack = append(stack, target)
				top, cur, prevLine = target, nil, nil
			case tokClose:
				if len(stack) == 1 && warn == nil {
					return nil, &Error{Pos: ln.pos, Msg: "extra '}' found", Hint: "remove it, or add the '{' it was meant to close"}
				}
				if len(stack) == 1 {
					warn(Warning{Pos: ln.pos, Msg: "extra '}' found; ignored, as keepalived ignores it (remove it, or add the '{' it was meant to close)"})
					continue
				}
				stack = stack[:len(stack)-1]
				top, cur, prevLine = stack[len(stack)-1], nil, nil
			}
		}
		prevLine = cur
	}
	if open := len(stack) - 1; open > 0 && warn != nil {
		inner := stack[len(stack)-1]
		warn(Warning{Pos: inner.Pos, Keyword: inner.Keyword,
			Msg: fmt.Sprintf("%d missing '}' at end of input; closed there, as keepalived closes them (add '}' after the block's last statement)", open)})
	} else if open > 0 {
		inner := stack[len(stack)-1]
		return nil, &Error{Pos: inner.Pos, Keyword: inner.Keyword,
			Msg:  fmt.Sprintf("%d missing '}' at end of input; this block is never closed", open),
			Hint: "add '}' after its last statement"}
	}
	return root, nil
}
