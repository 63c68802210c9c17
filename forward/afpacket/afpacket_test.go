package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestCopyTagged(t *testing.T) {
	frame := []byte{
		1, 2, 3, 4, 5, 6, // destination
		7, 8, 9, 10, 11, 12, // source
		0x08, 0x00, // IPv4
		0xaa, 0xbb,
	}
	tests := []struct {
		name  string
		frame Frame
		dst   int
		want  []byte
	}{
		{name: "untagged", frame: Frame{Data: frame}, dst: 64, want: frame},
		{name: "802.1Q", frame: Frame{Data: frame, Flags: FlagVLAN, VLANTCI: 0x0064, VLANTPID: 0x8100}, dst: 64,
			want: append(append(bytes.Clone(frame[:12]), 0x81, 0x00, 0x00, 0x64), frame[12:]...)},
		{name: "802.1ad", frame: Frame{Data: frame, Flags: FlagVLAN, VLANTCI: 0xe00a, VLANTPID: 0x88a8}, dst: 64,
			want: append(append(bytes.Clone(frame[:12]), 0x88, 0xa8, 0xe0, 0x0a), frame[12:]...)},
		{name: "no TPID means 802.1Q", frame: Frame{Data: frame, Flags: FlagVLAN, VLANTCI: 1}, dst: 64,
			want: append(append(bytes.Clone(frame[:12]), 0x81, 0x00, 0x00, 0x01), frame[12:]...)},
		{name: "dst too small for tag", frame: Frame{Data: frame, Flags: FlagVLAN}, dst: len(frame) + 3, want: []byte{}},
		{name: "dst too small", frame: Frame{Data: frame}, dst: len(frame) - 1, want: []byte{}},
		{name: "runt with tag", frame: Frame{Data: frame[:11], Flags: FlagVLAN}, dst: 64, want: []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, tt.dst)
			n := tt.frame.CopyTagged(dst)
			if !bytes.Equal(dst[:n], tt.want) {
				t.Errorf("CopyTagged = %x, want %x", dst[:n], tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{in: "", want: ModeAuto},
		{in: "auto", want: ModeAuto},
		{in: "ring", want: ModeRing},
		{in: "plain", want: ModePlain},
		{in: "xdp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseMode(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil && tt.in != "" && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults"},
		{name: "block not page multiple", cfg: Config{BlockSize: 5000}, wantErr: true},
		{name: "frame not 16-aligned", cfg: Config{FrameSize: 1608}, wantErr: true},
		{name: "frame not a power of two", cfg: Config{FrameSize: 1600}},
		{name: "frame too small", cfg: Config{FrameSize: 128}, wantErr: true},
		{name: "frame over block", cfg: Config{BlockSize: 4096, FrameSize: 8192}, wantErr: true},
		{name: "block not frame multiple", cfg: Config{BlockSize: 12288, FrameSize: 8192}},
		{name: "tx version 1", cfg: Config{TxVersion: 1}, wantErr: true},
		{name: "tx version 3", cfg: Config{TxVersion: 3}},
		{name: "neither direction", cfg: Config{NoRX: true, NoTX: true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg.withDefaults()
			if err := c.validate(4096); (err != nil) != tt.wantErr {
				t.Fatalf("validate = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestErrClosedIsNetErrClosed(t *testing.T) {
	if err := fmt.Errorf("wrapped: %w", ErrClosed); !errors.Is(err, ErrClosed) {
		t.Fatal("ErrClosed does not survive wrapping")
	}
}
