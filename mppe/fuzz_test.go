package mppe

import "testing"

// FuzzOpen decrypts arbitrary packets in every mode: errors are fine,
// panics and out-of-range writes are not, and a decrypter that rejected a
// packet must still decrypt the sender's next one when the mode allows
// recovery (stateless always; stateful after a flush).
func FuzzOpen(f *testing.F) {
	f.Add([]byte{0x90, 0x00, 1, 2, 3, 4}, uint8(0))
	f.Add([]byte{0x10, 0x05, 1, 2, 3}, uint8(1))
	f.Add([]byte{0xb0, 0xff, 9}, uint8(2))
	f.Add([]byte{0x00}, uint8(3))
	f.Fuzz(func(t *testing.T, pkt []byte, mode uint8) {
		o := Options{KeyBits: []int{40, 56, 128}[int(mode)%3], Stateless: mode&4 == 0}
		var key [16]byte
		key[0] = mode
		d, err := NewDecrypter(key, o)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := NewEncrypter(key, o)
		dst := make([]byte, len(pkt))
		d.Open(dst, pkt)
		// Recovery: a real packet from the sender, flushed for stateful.
		e.Flush()
		plain := []byte{0x00, 0x21, 0x45, 0, 0, 20}
		msg := make([]byte, HeaderLen+len(plain))
		copy(msg[HeaderLen:], plain)
		if err := e.Seal(msg); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, len(plain))
		if n, err := d.Open(out, msg); err == nil && string(out[:n]) != string(plain) {
			t.Fatalf("decrypted %x, want %x", out[:n], plain)
		}
	})
}
