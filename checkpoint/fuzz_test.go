package checkpoint

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"
)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// FuzzDecode feeds arbitrary bytes to Decode, both as they are and with a valid header and
// CRC patched in, so that the fuzzer also explores the body parser. Decode must never panic,
// must fail only with ErrCorrupt, and whatever it accepts must re-encode to the same bytes
// (the encoding is canonical, so no second encoding of a manifest slips through).
func FuzzDecode(f *testing.F) {
	for _, m := range sampleManifests() {
		f.Add(m.Encode())
	}
	f.Add([]byte("GLCK\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			m, err := Decode(b)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) || m != nil {
					t.Fatalf("Decode = %v, %v: errors must wrap ErrCorrupt and come alone", m, err)
				}
				return
			}
			if again := m.Encode(); !bytes.Equal(again, b) {
				t.Fatalf("accepted %x, which re-encodes to %x", b, again)
			}
		}
		check(b)
		if len(b) >= headerLen+trailerLen && len(b) <= 1<<16 {
			fixed := fixCRC(append([]byte(nil), b...))
			fixed[len(manifestMagic)] = manifestVersion
			check(fixCRC(fixed))
		}
	})
}

// FuzzDecodeMutated damages a valid manifest the ways storage does, one at a time: a burst
// of up to 32 flipped bits anywhere, a truncation, or bytes appended. Every damaged manifest
// must be rejected, whatever the bytes: the CRC-32C detects every burst of up to 32 bits, and
// the body is prefix-free and must end exactly at the CRC, so a truncated or extended
// manifest fails to parse even if its last four bytes happen to match the CRC.
func FuzzDecodeMutated(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint16(0), uint32(1), []byte{})
	f.Add(uint8(0), uint8(1), uint16(30), uint32(0xffffffff), []byte{})
	f.Add(uint8(0), uint8(2), uint16(200), uint32(0x80000001), []byte{})
	f.Add(uint8(1), uint8(0), uint16(3), uint32(0), []byte{})
	f.Add(uint8(1), uint8(1), uint16(1), uint32(0), []byte{})
	f.Add(uint8(2), uint8(2), uint16(0), uint32(0), []byte{0})
	f.Add(uint8(2), uint8(3), uint16(0), uint32(0), []byte("GLCK\x01\x00\x00\x00\x00"))
	samples := sampleManifests()
	f.Fuzz(func(t *testing.T, kind, which uint8, at uint16, mask uint32, extra []byte) {
		valid := samples[int(which)%len(samples)].Encode()
		b := append([]byte(nil), valid...)
		switch kind % 3 {
		case 0: // a burst: mask XORed into the 4 bytes at a position
			pos := int(at) % len(b)
			for i := 0; i < 4 && pos+i < len(b); i++ {
				b[pos+i] ^= byte(mask >> (8 * i))
			}
		case 1: // a truncation
			b = b[:int(at)%len(b)]
		case 2: // an extension
			b = append(b, extra...)
		}
		if bytes.Equal(b, valid) {
			return // a zero mask or nothing appended: not damaged
		}
		if m, err := Decode(b); err == nil {
			t.Fatalf("a damaged manifest decoded: %x (valid %x) → %+v", b, valid, m)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}
