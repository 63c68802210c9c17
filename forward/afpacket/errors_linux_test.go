package afpacket

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSetupErrorClassifiesMissingFeatures(t *testing.T) {
	tests := []struct {
		errno       unix.Errno
		unsupported bool
	}{
		{unix.EINVAL, true},
		{unix.ENOPROTOOPT, true},
		{unix.EOPNOTSUPP, true},
		{unix.EPERM, false},
		{unix.ENOMEM, false},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			err := setupError("eth0", "TPACKET_V3 (PACKET_VERSION)", tt.errno)
			if got := errors.Is(err, ErrNotSupported); got != tt.unsupported {
				t.Fatalf("%v: errors.Is(ErrNotSupported) = %v, want %v", err, got, tt.unsupported)
			}
			if !errors.Is(err, tt.errno) {
				t.Fatalf("%v does not wrap %v", err, tt.errno)
			}
		})
	}
}
