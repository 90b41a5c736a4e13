package chaos

import (
	"fmt"
	"strconv"
	"strings"
)

// TP names a partition.
type TP struct {
	Topic     string
	Partition int32
}

// String returns topic-partition.
func (tp TP) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// RecordID identifies a workload record within its partition: the producer
// that sent it and its sequence number among that producer's records to the
// partition (0, 1, 2, ...).
type RecordID struct {
	Producer int
	Seq      int64
}

// String returns p<producer>#<seq>.
func (id RecordID) String() string { return fmt.Sprintf("p%d#%d", id.Producer, id.Seq) }

// valuePrefix starts every workload record's value.
const valuePrefix = "chaos"

// EncodeValue is a record's value: "chaos <run> <producer> <partition> <seq>"
// followed by padding dots up to pad bytes in total.
func EncodeValue(run string, tp TP, id RecordID, pad int) []byte {
	s := fmt.Sprintf("%s %s %d %d %d ", valuePrefix, run, id.Producer, tp.Partition, id.Seq)
	if len(s) < pad {
		s += strings.Repeat(".", pad-len(s))
	}
	return []byte(s)
}

// DecodeValue parses a value written by EncodeValue; ok is false for any
// other value.
func DecodeValue(v []byte) (run string, partition int32, id RecordID, ok bool) {
	f := strings.Fields(string(v))
	if len(f) < 5 || f[0] != valuePrefix {
		return "", 0, RecordID{}, false
	}
	producer, err1 := strconv.Atoi(f[2])
	part, err2 := strconv.ParseInt(f[3], 10, 32)
	seq, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || producer < 0 || seq < 0 {
		return "", 0, RecordID{}, false
	}
	return f[1], int32(part), RecordID{Producer: producer, Seq: seq}, true
}
