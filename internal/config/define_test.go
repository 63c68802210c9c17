package config

import (
	"strings"
	"testing"
)

// TestPreprocessor checks @id conditionals, $NAME definitions and ~SEQ
// against the lines keepalived's read_line would hand its parser.
func TestPreprocessor(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"conditional", "@lb1 a 1\n@lb2 b 2\n@^lb2 c 3\n@^lb1 d 4\n@lb1\n", "a 1|c 3"},
		{"conditional tab", "@lb1\tx y\n", "x y"},
		{"definition", "$P=80\n$V = 10.0.0.1\nvs $V $P\n", "vs 10.0.0.1 80"},
		{"braces", "$P=80\nport ${P}0 $P,$P)\n", "port 800 80,80)"},
		{"not a name end", "$P=80\nx $P0 $Px\n", "x $P0 $Px"},
		{"undefined", "x $NOPE ${NOPE} $ $1\n", "x $NOPE ${NOPE} $ $1"},
		{"redefined", "$P=1\na $P\n$P=2\nb $P\n", "a 1|b 2"},
		{"nested", "$A=$B y\n$B=x\nv $A\n", "v x y"},
		{"to conditional", "$C=@lb1 router_id\nz\n$C a\n$D=@lb2 router_id\n$D b\n", "z|router_id a"},
		{"multiline", "$RS=rs 1 { \\\n  weight 2 \\\n }\nvs {\n$RS\n}\n", "vs {|rs 1 {   weight 2  }|}"},
		{"predefined", "x \"$_HASH $_BANG \" ${_PWD} $_HASH y\n", "x \"# ! \" /etc/keepalived"},
		{"seq end", "~SEQ(i, 3) r $i\n", "r 1|r 2|r 3"},
		{"seq negative", "~SEQ(i, -2) r $i\n", "r -1|r -2"},
		{"seq start end", "~SEQ(i, 5, 3) r $i\n", "r 5|r 4|r 3"},
		{"seq step", "~SEQ(i, 0, 5, 12) r $i\n", "r 0|r 5|r 10"},
		{"seq hex", "~SEQx(i, 9, 11) r $i\n", "r 9|r a|r b"},
		{"lst", "~LST(i, eth0, eth1 , lo) r $i\n", "r eth0|r eth1|r lo"},
		{"lst in seq", "~SEQ(i, 2) ~LST(j, a, b) r ${i}-$j\n", "r 1-a|r 1-b|r 2-a|r 2-b"},
		{"seq definition args", "$N=2\n~SEQ(i, $N) r $i\n", "r 1|r 2"},
		// $i$j: a bare name must end at a blank, ',', ')' or the line's
		// end, so only $j is replaced, as in keepalived.
		{"seq nested", "~SEQ(i, 2) ~SEQ(j, 2) r ${i}${j} $i$j\n", "r 11 $i1|r 12 $i2|r 21 $i1|r 22 $i2"},
		{"seq conditional", "~SEQ(i, 2) @lb1 r $i\n~SEQ(i, 2) @lb2 s $i\n", "r 1|r 2"},
		{"comment in value", "$H=a # b\nx $H\n", "x a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &reader{configID: "lb1", defs: defs{}}
			var got []string
			for _, rl := range logicalLines("/etc/keepalived/k.conf", []byte(c.in)) {
				err := r.expand(rl, 0, func(rl rawLine) error { got = append(got, strings.TrimSpace(rl.text)); return nil })
				if err != nil {
					t.Fatal(err)
				}
			}
			if g := strings.Join(got, "|"); g != c.want {
				t.Errorf("got %q, want %q", g, c.want)
			}
		})
	}
}

// TestPreprocessorLimits checks that definitions cannot make a line, or a
// load, grow without bound.
func TestPreprocessorLimits(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"self reference", "$A=$A\nx $A\n", "still expand"},
		{"doubling", "$A=$B$B\n$B=$A$A\nx $A\n", "still expand"},
		{"long", "$A=" + strings.Repeat("x", 1000) + "\n$B=$A $A $A $A $A $A $A $A $A $A\n$C=$B $B $B $B $B $B $B $B\nx $C $C $C $C $C $C $C $C $C\n", "grows beyond"},
		{"seq count", "~SEQ(i, 100000) x\n", "more than 65536 lines"},
		{"seq nesting", "~SEQ(a,1) ~SEQ(b,1) ~SEQ(c,1) ~SEQ(d,1) ~SEQ(e,1) ~SEQ(f,1) x\n", "nested more than 4 deep"},
		{"seq syntax", "~SEQ i, 3) x\n", "no (...) after ~SEQ"},
		{"seq number", "~SEQ(i, x) y\n", `"x" is not a number`},
		{"seqx negative", "~SEQx(i, -3) y\n", "positive numbers only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse("/etc/keepalived/k.conf", []byte(c.in), Options{ConfigID: "lb1"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}
