package logclient

import "encoding/binary"

// Offsets within a RecordBatch header: base offset (8 bytes), then the
// batch length (4 bytes) counting what follows it.
const (
	lengthOffset = 8
	logOverhead  = 12
)

// wholeBatches cuts b after its last complete batch (a fetch may end in a
// partial one when it reaches max_bytes).
func wholeBatches(b []byte) []byte {
	pos := 0
	for len(b)-pos >= logOverhead {
		n := int(int32(binary.BigEndian.Uint32(b[pos+lengthOffset:])))
		if n <= 0 || len(b)-pos-logOverhead < n {
			break
		}
		pos += logOverhead + n
	}
	return b[:pos]
}
