package server

import (
	"testing"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// A standalone node refuses the replication endpoints and hands out
// producer ids that survive a restart without repeating.
func TestStandaloneReplicationEndpointsAndProducerIDs(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, nil)
	for _, tc := range []struct {
		method, path string
		code         wire.Code
	}{
		{"GET", wire.PathReplicaStream, wire.CodeInvalidRequest},
		{"POST", wire.PathReplicaEpochs, wire.CodeInvalidRequest},
		{"GET", wire.PathInitProducerID, wire.CodeInvalidRequest},
	} {
		status, _, body := tn.do(tc.method, tc.path, nil, []byte("{}"))
		if status < 400 || wireCode(body) != tc.code {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, status, body)
		}
	}
	var first wire.InitProducerIDResponse
	tn.ok("POST", wire.PathInitProducerID, nil, nil, &first)
	var second wire.InitProducerIDResponse
	tn.ok("POST", wire.PathInitProducerID, nil, nil, &second)
	if second.ProducerID != first.ProducerID+1 {
		t.Fatalf("producer ids %d then %d", first.ProducerID, second.ProducerID)
	}

	// Idempotent produce: a retry answers the same offsets.
	tn.createTopic("idem", 1, nil)
	b, err := recordbatch.Encode([]recordbatch.Record{{Value: []byte("x")}, {Value: []byte("y")}},
		recordbatch.EncodeOptions{Idempotent: true, ProducerID: first.ProducerID, BaseSequence: 0})
	if err != nil {
		t.Fatal(err)
	}
	r1 := tn.produce("idem", 0, b)
	r2 := tn.produce("idem", 0, b)
	if r1.BaseOffset != r2.BaseOffset || r1.LastOffset != r2.LastOffset {
		t.Fatalf("retry answered %+v, first %+v", r2, r1)
	}
	gap, err := recordbatch.Encode([]recordbatch.Record{{Value: []byte("z")}},
		recordbatch.EncodeOptions{Idempotent: true, ProducerID: first.ProducerID, BaseSequence: 7})
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := tn.do("POST", wire.PathProduce, tp("idem", 0, "acks", "1"), gap)
	if status != 409 || wireCode(body) != wire.CodeOutOfOrderSequenceNumber {
		t.Fatalf("sequence gap: %d %s", status, body)
	}

	// After a restart the ids go on from a new block, and the producer
	// state comes back from its snapshot: the retry is still a duplicate.
	if err := tn.stop(); err != nil {
		t.Fatal(err)
	}
	tn = startNode(t, dir, nil)
	var third wire.InitProducerIDResponse
	tn.ok("POST", wire.PathInitProducerID, nil, nil, &third)
	if third.ProducerID <= second.ProducerID {
		t.Fatalf("producer id %d after a restart, %d before", third.ProducerID, second.ProducerID)
	}
	r3 := tn.produce("idem", 0, b)
	if r3.BaseOffset != r1.BaseOffset {
		t.Fatalf("retry after a restart answered %+v, first %+v", r3, r1)
	}
}
