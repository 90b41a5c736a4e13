package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"strand.dev/client/wire"
)

// xerialMagic starts a records section compressed with the xerial snappy
// framing (Kafka's Java producer): the 8-byte magic, a 4-byte version and a
// 4-byte compatible version, then chunks of [4-byte big-endian length][a
// snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// zstdMaxWindow bounds the window a zstd frame may ask the decoder to keep
// (Kafka's producers use the library default of at most 8 MiB).
const zstdMaxWindow = 32 << 20

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdReaders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			panic("recordbatch: zstd decoder options rejected: " + err.Error())
		}
		return d
	}}
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic("recordbatch: zstd encoder options rejected: " + err.Error())
		}
		return e
	})
)

// compress appends raw compressed with codec to dst.
func compress(dst []byte, codec Compression, raw []byte) ([]byte, error) {
	switch codec {
	case None:
		return append(dst, raw...), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		w.Reset(buf)
		if _, err := w.Write(raw); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return buf.Bytes(), nil
	case Snappy:
		n := snappy.MaxEncodedLen(len(raw))
		if n < 0 {
			return dst, errors.New("records section too large for snappy")
		}
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		out := snappy.Encode(dst[start:], raw)
		return dst[:start+len(out)], nil
	case LZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		w.Reset(buf)
		if _, err := w.Write(raw); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		return buf.Bytes(), nil
	case Zstd:
		return zstdEncoder().EncodeAll(raw, dst), nil
	}
	return dst, wire.Errorf(wire.CodeInvalidRecord, "unknown compression codec %d", codec)
}

// decompress returns data decompressed with codec, failing with
// RECORD_LIST_TOO_LARGE when the output would exceed limit bytes and with
// CORRUPT_MESSAGE when data is not valid for the codec.
func decompress(codec Compression, data []byte, limit int) ([]byte, error) {
	switch codec {
	case None:
		return data, nil
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, corrupt(codec, err)
		}
		defer r.Close()
		return readLimited(codec, r, limit, len(data))
	case Snappy:
		if bytes.HasPrefix(data, xerialMagic) {
			return unxerial(data, limit)
		}
		return unsnappyBlock(nil, data, limit)
	case LZ4:
		r := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(r)
		r.Reset(bytes.NewReader(data))
		return readLimited(codec, r, limit, len(data))
	case Zstd:
		d := zstdReaders.Get().(*zstd.Decoder)
		defer zstdReaders.Put(d)
		if err := d.Reset(bytes.NewReader(data)); err != nil {
			return nil, corrupt(codec, err)
		}
		out, err := readLimited(codec, d, limit, len(data))
		// Drop the reference to data before the decoder goes back to the pool.
		_ = d.Reset(bytes.NewReader(nil))
		return out, err
	}
	return nil, wire.Errorf(wire.CodeCorruptMessage, "unknown compression codec %d", codec)
}

// unsnappyBlock appends the decoding of one plain snappy block to dst.
func unsnappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, corrupt(Snappy, err)
	}
	if n > limit-len(dst) {
		return nil, tooLarge(limit)
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	out, err := snappy.Decode(dst[start:], block)
	if err != nil {
		return nil, corrupt(Snappy, err)
	}
	if len(out) != n {
		return nil, corrupt(Snappy, errors.New("decoded length disagrees with the block header"))
	}
	return dst, nil
}

// unxerial decodes the xerial snappy framing.
func unxerial(data []byte, limit int) ([]byte, error) {
	if len(data) < xerialHeaderSize {
		return nil, corrupt(Snappy, errors.New("truncated xerial header"))
	}
	var out []byte
	for pos := xerialHeaderSize; pos < len(data); {
		if len(data)-pos < 4 {
			return nil, corrupt(Snappy, errors.New("truncated xerial chunk length"))
		}
		n := int(binary.BigEndian.Uint32(data[pos:]))
		pos += 4
		if n < 0 || n > len(data)-pos {
			return nil, corrupt(Snappy, errors.New("xerial chunk runs past the data"))
		}
		var err error
		if out, err = unsnappyBlock(out, data[pos:pos+n], limit); err != nil {
			return nil, err
		}
		pos += n
	}
	return out, nil
}

// readLimited reads r to its end, failing once more than limit bytes come.
func readLimited(codec Compression, r io.Reader, limit, hint int) ([]byte, error) {
	size := 4 * hint
	if size < 512 {
		size = 512
	}
	if size > limit {
		size = limit
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				// Full: one more byte means the output is over the limit.
				var one [1]byte
				n, err := io.ReadFull(r, one[:])
				if n > 0 {
					return nil, tooLarge(limit)
				}
				if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
					return nil, corrupt(codec, err)
				}
				return buf, nil
			}
			grow := min(2*cap(buf), limit)
			buf = append(buf[:cap(buf)], make([]byte, grow-cap(buf))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, corrupt(codec, err)
		}
	}
}

func corrupt(codec Compression, err error) error {
	return wire.Errorf(wire.CodeCorruptMessage, "%s records section does not decompress: %v", codec, err)
}

func tooLarge(limit int) error {
	return wire.Errorf(wire.CodeRecordListTooLarge, "records section decompresses to more than the limit of %d bytes", limit)
}
