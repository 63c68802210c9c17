package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	var b bytes.Buffer
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := Limit(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}), 3, time.Second)
	emit := func(at time.Duration, msg string) {
		r := slog.NewRecord(base.Add(at), slog.LevelWarn, msg, 0)
		h.Handle(t.Context(), r)
	}
	for i := range 10 {
		emit(time.Duration(i)*time.Millisecond, "neighbour did not answer")
	}
	emit(5*time.Millisecond, "other")
	emit(2*time.Second, "neighbour did not answer")
	got := b.String()
	if n := strings.Count(got, "neighbour did not answer"); n != 4 {
		t.Errorf("%d lines of the repeated message, want 3 in the first window and 1 after:\n%s", n, got)
	}
	if !strings.Contains(got, "suppressed=7") || !strings.Contains(got, "msg=other") {
		t.Errorf("want the suppressed count and the other message:\n%s", got)
	}
}
