package labeltest

import "testing"

type color uint8

func (c color) String() string { return [...]string{"red", "dark_blue", "Green", "light-grey"}[c] }

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     color
		want  []string
		snake bool
		fail  bool
	}{
		{"pinned snake_case", 2, []string{"red", "dark_blue"}, true, false},
		{"renamed", 2, []string{"red", "navy"}, true, true},
		{"count differs", 2, []string{"red"}, true, true},
		{"not snake_case", 3, []string{"red", "dark_blue", "Green"}, true, true},
		{"kebab-case", 4, []string{"red", "dark_blue", "Green", "light-grey"}, true, true},
		{"any spelling when not snake", 4, []string{"red", "dark_blue", "Green", "light-grey"}, false, false},
	} {
		r := &recorder{TB: t}
		Check(r, tc.n, tc.want, tc.snake)
		if r.failed != tc.fail {
			t.Errorf("%s: failed %v, want %v", tc.name, r.failed, tc.fail)
		}
	}
}
