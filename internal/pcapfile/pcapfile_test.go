package pcapfile

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestCapturesParse(t *testing.T) {
	paths, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 6 {
		t.Fatalf("found %d captures, want at least 6", len(paths))
	}
	for _, p := range paths {
		pkts, err := Read(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if filepath.Base(p) == "pppd-mschapv2-mppe128.pcap" {
			if len(GRE(pkts)) == 0 {
				t.Errorf("%s: no GRE packets", filepath.Base(p))
			}
			streams := TCPStreams(pkts, 1723)
			if len(streams) != 2 {
				t.Fatalf("%s: %d TCP streams, want 2", filepath.Base(p), len(streams))
			}
			// Every PPTP control stream starts with a length and the magic cookie.
			for _, s := range streams {
				if len(s.Data) < 8 || !bytes.Equal(s.Data[4:8], []byte{0x1a, 0x2b, 0x3c, 0x4d}) {
					t.Errorf("stream %v->%v does not start with a PPTP message", s.Src, s.Dst)
				}
			}
		}
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := Parse([]byte("not a pcap file at all, no")); err == nil {
		t.Fatal("garbage parsed without error")
	}
}
