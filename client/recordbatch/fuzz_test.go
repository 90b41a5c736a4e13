package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"strand.dev/client/wire"
)

// FuzzValidate feeds arbitrary bytes to Validate and Decode. Neither may
// panic or return anything but a *wire.Error; what Validate accepts must
// decode, and its headers must tile the input exactly.
func FuzzValidate(f *testing.F) {
	for i, codec := range []Compression{None, Gzip, Snappy, LZ4, Zstd} {
		b, err := Encode(sampleRecords(i+1, 8), EncodeOptions{Compression: codec})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFuzzInput(t, in)
		// The CRC stops almost every mutation at the door; a second pass
		// with the first batch's CRC recomputed lets the fuzzer reach the
		// record parser and the decompressors.
		if len(in) >= HeaderSize {
			n := LogOverhead + int(int32(binary.BigEndian.Uint32(in[offLength:])))
			if n >= HeaderSize && n <= len(in) {
				cp := bytes.Clone(in)
				resign(cp)
				checkFuzzInput(t, cp)
			}
		}
	})
}

func checkFuzzInput(t *testing.T, in []byte) {
	{
		opts := ValidateOptions{MaxBatchBytes: 1 << 20, DecompressLimit: 1 << 20}
		hs, err := ValidateWith(in, opts)
		var we *wire.Error
		if err != nil {
			if !errors.As(err, &we) {
				t.Fatalf("Validate error %T %v is not a *wire.Error", err, err)
			}
		} else {
			n := 0
			for _, h := range hs {
				n += h.Size()
			}
			if n != len(in) {
				t.Fatalf("headers cover %d of %d bytes", n, len(in))
			}
			if _, err := Decode(in, 1<<20); err != nil {
				t.Fatalf("validated input does not decode: %v", err)
			}
			// Editing the base offset keeps it valid; LogAppendTime too.
			cp := bytes.Clone(in)
			SetBaseOffset(cp, 12345)
			SetLogAppendTime(cp, 99)
			if _, err := ValidateWith(cp, opts); err != nil {
				t.Fatalf("in-place edits broke the batch: %v", err)
			}
		}
		if _, err := DecodeBatches(in, 1<<20); err != nil && !errors.As(err, &we) {
			t.Fatalf("Decode error %T %v is not a *wire.Error", err, err)
		}
	}
}
