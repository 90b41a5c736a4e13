package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/klauspost/compress/snappy"

	"strand.dev/client/wire"
)

func sampleRecords(n, size int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		recs[i] = Record{Offset: int64(i), Timestamp: 1_700_000_000_000 + int64(i), Key: []byte(fmt.Sprintf("key-%d", i)), Value: v}
		if i%3 == 0 {
			recs[i].Headers = []Header{{Key: "h", Value: []byte("v")}, {Key: "null", Value: nil}}
		}
		if i%5 == 4 {
			recs[i].Key = nil
		}
	}
	return recs
}

func mustEncode(t testing.TB, recs []Record, opts EncodeOptions) []byte {
	t.Helper()
	b, err := Encode(recs, opts)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

func TestRoundTripEveryCodec(t *testing.T) {
	for _, codec := range []Compression{None, Gzip, Snappy, LZ4, Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			recs := sampleRecords(50, 100)
			b := mustEncode(t, recs, EncodeOptions{Compression: codec, Idempotent: true, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40})
			hs, err := ValidateWith(b, ValidateOptions{MaxBatchBytes: 1 << 20, DecompressLimit: 1 << 20})
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(hs) != 1 {
				t.Fatalf("got %d headers", len(hs))
			}
			h := hs[0]
			want := BatchHeader{BaseOffset: 0, Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: -1, Magic: 2, CRC: h.CRC,
				Attributes: int16(codec), LastOffsetDelta: 49, FirstTimestamp: recs[0].Timestamp, MaxTimestamp: recs[49].Timestamp,
				ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40, RecordCount: 50}
			if h != want {
				t.Fatalf("header\n got %+v\nwant %+v", h, want)
			}
			if h.Compression() != codec || h.TimestampType() != CreateTime || h.Size() != len(b) {
				t.Fatalf("accessors: %v %v %d", h.Compression(), h.TimestampType(), h.Size())
			}
			got, err := Decode(b, 1<<20)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, recs) {
				t.Fatalf("records differ:\n got %+v\nwant %+v", got[:2], recs[:2])
			}
		})
	}
}

func TestNullAndEmptyDistinct(t *testing.T) {
	recs := []Record{{Key: nil, Value: nil}, {Key: []byte{}, Value: []byte{}}, {Headers: []Header{{Key: "", Value: []byte{}}}}}
	got, err := Decode(mustEncode(t, recs, EncodeOptions{}), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Key != nil || got[0].Value != nil {
		t.Fatalf("null key/value decoded as %q %q", got[0].Key, got[0].Value)
	}
	if got[1].Key == nil || got[1].Value == nil {
		t.Fatalf("empty key/value decoded as null")
	}
	if got[2].Headers[0].Value == nil {
		t.Fatalf("empty header value decoded as null")
	}
}

func TestSetBaseOffsetAndLogAppendTime(t *testing.T) {
	b := mustEncode(t, sampleRecords(3, 10), EncodeOptions{})
	SetBaseOffset(b, 1000)
	SetPartitionLeaderEpoch(b, 5)
	hs, err := Validate(b, 0)
	if err != nil {
		t.Fatalf("after SetBaseOffset: %v", err)
	}
	if hs[0].BaseOffset != 1000 || hs[0].LastOffset() != 1002 || hs[0].NextOffset() != 1003 || hs[0].PartitionLeaderEpoch != 5 {
		t.Fatalf("header %+v", hs[0])
	}
	SetLogAppendTime(b, 42)
	hs, err = Validate(b, 0)
	if err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}
	if hs[0].TimestampType() != LogAppendTime || hs[0].MaxTimestamp != 42 {
		t.Fatalf("header %+v", hs[0])
	}
	recs, err := Decode(b, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Timestamp != 42 || r.Offset != 1000+int64(i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

// resign recomputes the CRC after a test edits a batch.
func resign(b []byte) { binary.BigEndian.PutUint32(b[offCRC:], Checksum(b)) }

func TestValidateRejects(t *testing.T) {
	good := mustEncode(t, sampleRecords(4, 20), EncodeOptions{})
	gz := mustEncode(t, sampleRecords(4, 20), EncodeOptions{Compression: Gzip})
	keyless := mustEncode(t, sampleRecords(5, 20), EncodeOptions{})
	keylessGz := mustEncode(t, sampleRecords(5, 20), EncodeOptions{Compression: Gzip})
	edit := func(src []byte, f func(b []byte)) []byte {
		b := append([]byte(nil), src...)
		f(b)
		return b
	}
	cases := []struct {
		name string
		in   []byte
		opts ValidateOptions
		code wire.Code
		msg  string
	}{
		{"empty", nil, ValidateOptions{}, wire.CodeCorruptMessage, "empty"},
		{"short header", good[:30], ValidateOptions{}, wire.CodeCorruptMessage, "truncated"},
		{"truncated body", good[:len(good)-1], ValidateOptions{}, wire.CodeCorruptMessage, "exceeds"},
		{"trailing garbage", append(append([]byte(nil), good...), 1, 2, 3), ValidateOptions{}, wire.CodeCorruptMessage, "batch 1"},
		{"magic 1", edit(good, func(b []byte) { b[offMagic] = 1 }), ValidateOptions{}, wire.CodeCorruptMessage, "magic"},
		{"crc", edit(good, func(b []byte) { b[len(b)-1] ^= 1 }), ValidateOptions{}, wire.CodeCorruptMessage, "CRC"},
		{"length below min", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 10) }), ValidateOptions{}, wire.CodeCorruptMessage, "minimum"},
		{"negative length", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 0xffffffff) }), ValidateOptions{}, wire.CodeCorruptMessage, "minimum"},
		{"too large", good, ValidateOptions{MaxBatchBytes: len(good) - 1}, wire.CodeMessageTooLarge, "max.message.bytes"},
		{"count mismatch", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offRecordCount:], 5); resign(b) }), ValidateOptions{}, wire.CodeInvalidRecord, "disagrees"},
		{"count vs records", edit(good, func(b []byte) {
			binary.BigEndian.PutUint32(b[offRecordCount:], 5)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 4)
			resign(b)
		}), ValidateOptions{}, wire.CodeInvalidRecord, "ends after 4 of 5"},
		{"zero records", edit(good, func(b []byte) {
			binary.BigEndian.PutUint32(b[offRecordCount:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			resign(b)
		}), ValidateOptions{}, wire.CodeInvalidRecord, "negative last offset delta"},
		{"negative count", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offRecordCount:], 0xfffffff0); resign(b) }), ValidateOptions{}, wire.CodeCorruptMessage, "negative record count"},
		{"codec 7", edit(good, func(b []byte) { b[offAttributes+1] |= 7; resign(b) }), ValidateOptions{}, wire.CodeCorruptMessage, "compression codec"},
		{"control from producer", edit(good, func(b []byte) { b[offAttributes+1] |= attrControl; resign(b) }), ValidateOptions{}, wire.CodeInvalidRecord, "control"},
		{"record length lies", edit(good, func(b []byte) { b[HeaderSize] += 2; resign(b) }), ValidateOptions{}, wire.CodeInvalidRecord, "record"},
		{"bad gzip", edit(gz, func(b []byte) { b[HeaderSize+12] ^= 0xff; resign(b) }), ValidateOptions{DecompressLimit: 1 << 20}, wire.CodeCorruptMessage, "gzip"},
		{"gzip over limit", gz, ValidateOptions{DecompressLimit: 50}, wire.CodeRecordListTooLarge, "limit"},
		{"keyless record in compacted topic", keyless, ValidateOptions{RequireKeys: true}, wire.CodeInvalidRecord, "record 4 has no key"},
		{"keyless compressed record", keylessGz, ValidateOptions{RequireKeys: true, DecompressLimit: 1 << 20}, wire.CodeInvalidRecord, "no key"},
		{"keys present", good, ValidateOptions{RequireKeys: true}, "", ""},
		{"negative base offset", edit(good, func(b []byte) { SetBaseOffset(b, -5) }), ValidateOptions{}, wire.CodeInvalidRecord, "base offset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateWith(tc.in, tc.opts)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *wire.Error", err)
			}
			if we.Code != tc.code || !bytes.Contains([]byte(we.Message), []byte(tc.msg)) {
				t.Fatalf("got %s %q, want %s containing %q", we.Code, we.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestValidateManyBatches(t *testing.T) {
	var all []byte
	for i := 0; i < 5; i++ {
		b := mustEncode(t, sampleRecords(i+1, 10), EncodeOptions{Compression: Compression(i)})
		SetBaseOffset(b, int64(i*100))
		all = append(all, b...)
	}
	hs, err := ValidateWith(all, ValidateOptions{DecompressLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for i, h := range hs {
		if h.BaseOffset != int64(i*100) || h.RecordCount != int32(i+1) {
			t.Fatalf("batch %d: %+v", i, h)
		}
		pos += h.Size()
	}
	if pos != len(all) {
		t.Fatalf("sizes add to %d of %d", pos, len(all))
	}
	recs, err := Decode(all, 1<<20)
	if err != nil || len(recs) != 15 {
		t.Fatalf("Decode: %d records, %v", len(recs), err)
	}
}

func TestStoredAllowsGapsAndRebuild(t *testing.T) {
	src := mustEncode(t, sampleRecords(10, 5), EncodeOptions{Idempotent: true, ProducerID: 3, ProducerEpoch: 1, BaseSequence: 100})
	SetBaseOffset(src, 500)
	SetPartitionLeaderEpoch(src, 9)
	bs, err := DecodeBatches(src, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h := bs[0].Header
	// Keep only records 501, 507 and 509 (as a cleaner would).
	keep := []Record{bs[0].Records[1], bs[0].Records[7], bs[0].Records[9]}
	for _, codec := range []Compression{None, Zstd} {
		hh := h
		hh.Attributes = int16(codec)
		out, err := Rebuild(hh, keep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(out, 0); err == nil {
			t.Fatalf("producer validation accepted a batch with gaps")
		}
		hs, err := ValidateWith(out, ValidateOptions{Stored: true, DecompressLimit: 1 << 20})
		if err != nil {
			t.Fatalf("stored validation: %v", err)
		}
		g := hs[0]
		if g.BaseOffset != 500 || g.LastOffset() != 509 || g.RecordCount != 3 || g.ProducerID != 3 || g.BaseSequence != 100 || g.PartitionLeaderEpoch != 9 {
			t.Fatalf("rebuilt header %+v", g)
		}
		got, err := Decode(out, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, keep) {
			t.Fatalf("rebuilt records %+v, want %+v", got, keep)
		}
	}
	if _, err := Rebuild(h, []Record{{Offset: 600}}); err == nil {
		t.Fatal("Rebuild accepted an offset beyond the batch")
	}
	if _, err := Rebuild(h, []Record{{Offset: 505}, {Offset: 502}}); err == nil {
		t.Fatal("Rebuild accepted offsets out of order")
	}
}

// xerial frames raw as the Java producer does: header, then chunks.
func xerial(raw []byte, chunk int) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(raw) > 0 {
		n := min(chunk, len(raw))
		blk := snappy.Encode(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		raw = raw[n:]
	}
	return out
}

func TestXerialSnappyAccepted(t *testing.T) {
	plain := mustEncode(t, sampleRecords(20, 50), EncodeOptions{})
	raw := plain[HeaderSize:]
	framed := xerial(raw, 100)
	b := append([]byte(nil), plain[:HeaderSize]...)
	b = append(b, framed...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	b[offAttributes+1] |= byte(Snappy)
	resign(b)
	got, err := Decode(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Decode(plain, 1<<20)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("xerial-framed batch decodes differently")
	}
	if _, err := Decode(b, len(raw)-1); !errors.Is(err, &wire.Error{Code: wire.CodeRecordListTooLarge}) {
		t.Fatalf("limit not enforced: %v", err)
	}
}

func TestCompressionBombBounded(t *testing.T) {
	// 64 MiB of zeros compresses to a few KiB; a 1 MiB limit must stop it.
	big := make([]byte, 64<<20)
	for _, codec := range []Compression{Gzip, Snappy, LZ4, Zstd} {
		comp, err := compress(nil, codec, big)
		if err != nil {
			t.Fatal(err)
		}
		_, err = decompress(codec, comp, 1<<20)
		if !errors.Is(err, &wire.Error{Code: wire.CodeRecordListTooLarge}) {
			t.Fatalf("%s: got %v, want RECORD_LIST_TOO_LARGE", codec, err)
		}
	}
}

func TestChecksumKnownVector(t *testing.T) {
	// CRC-32C check value from RFC 3720.
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xe3069283 {
		t.Fatalf("castagnoli table wrong: %08x", got)
	}
}

func TestParseCompression(t *testing.T) {
	for _, c := range []Compression{None, Gzip, Snappy, LZ4, Zstd} {
		got, err := ParseCompression(c.String())
		if err != nil || got != c {
			t.Fatalf("%s: %v %v", c, got, err)
		}
	}
	if _, err := ParseCompression("brotli"); err == nil {
		t.Fatal("accepted brotli")
	}
}

func TestBuilderSize(t *testing.T) {
	b := NewBuilder(EncodeOptions{})
	if _, err := b.Build(); err == nil {
		t.Fatal("built an empty batch")
	}
	for i := 0; i < 10; i++ {
		b.Add(Record{Value: make([]byte, 100)})
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != len(out) || b.Len() != 10 {
		t.Fatalf("Size %d, batch %d bytes, Len %d", b.Size(), len(out), b.Len())
	}
}

func TestLargeBatchCRCWins(t *testing.T) {
	// Large enough for the concurrent CRC; a corrupt CRC must be reported
	// even when the records are broken too.
	b := mustEncode(t, sampleRecords(300, 1000), EncodeOptions{})
	if len(b) < parallelCRCBytes {
		t.Fatalf("batch of %d bytes is too small for the test", len(b))
	}
	if _, err := Validate(b, 0); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(b[offRecordCount:], 301) // records disagree
	_, err := Validate(b, 0)
	var we *wire.Error
	if !errors.As(err, &we) || !bytes.Contains([]byte(we.Message), []byte("CRC")) {
		t.Fatalf("got %v, want the CRC mismatch", err)
	}
	resign(b)
	if _, err := Validate(b, 0); !errors.Is(err, wire.ErrInvalidRecord) {
		t.Fatalf("got %v, want INVALID_RECORD", err)
	}
}

func BenchmarkValidate1MiB(b *testing.B) {
	batch, _ := Encode(sampleRecords(1000, 1000), EncodeOptions{})
	b.SetBytes(int64(len(batch)))
	var hs []BatchHeader
	for b.Loop() {
		var err error
		if hs, err = AppendValidate(hs[:0], batch, ValidateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
