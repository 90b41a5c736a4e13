package recordbatch

// Header is one record header. Headers keep their order; keys may repeat.
type Header struct {
	Key   string
	Value []byte // nil is a null value
}

// Record is one record of a batch.
type Record struct {
	// Offset is the record's offset: base offset plus offset delta. Encode
	// ignores it unless EncodeOptions.KeepOffsets is set.
	Offset int64
	// Timestamp in Unix milliseconds. For a LogAppendTime batch, Decode sets
	// it to the batch's max timestamp (the broker's append time).
	Timestamp int64
	Key       []byte // nil is a null key
	Value     []byte // nil is a null value (a tombstone when Key is set)
	Headers   []Header
}

// Size is the record's payload size in bytes: key, value and headers.
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
