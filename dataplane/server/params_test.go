package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/dataplane/replica"
)

var testLimits = paramLimits{maxFetchBytes: 8 << 20, maxFetchWait: 10 * time.Second, maxProduceTimeout: time.Minute}

func args(q string) *fasthttp.Args {
	var a fasthttp.Args
	a.Parse(q)
	return &a
}

func codeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	if err == nil {
		return ""
	}
	return wire.CodeUnknown
}

func TestParseFetch(t *testing.T) {
	tests := []struct {
		q    string
		code wire.Code
		want replica.FetchRequest
	}{
		{q: "topic=t&partition=0&offset=5", want: replica.FetchRequest{Topic: "t", Offset: 5, MaxBytes: 1 << 20, MinBytes: 1, MaxWait: 500 * time.Millisecond, ReplicaID: -1, LeaderEpoch: -1}},
		{q: "topic=a.b_c-d&partition=7&offset=0&max_bytes=100&min_bytes=0&max_wait_ms=0&replica_id=2&leader_epoch=3",
			want: replica.FetchRequest{Topic: "a.b_c-d", Partition: 7, MaxBytes: 100, ReplicaID: 2, LeaderEpoch: 3}},
		{q: "topic=t&partition=0&offset=0&max_bytes=99999999999", want: replica.FetchRequest{Topic: "t", MaxBytes: 8 << 20, MinBytes: 1, MaxWait: 500 * time.Millisecond, ReplicaID: -1, LeaderEpoch: -1}},
		{q: "topic=t&partition=0&offset=0&max_bytes=10&min_bytes=1000&max_wait_ms=99999999999999", want: replica.FetchRequest{Topic: "t", MaxBytes: 10, MinBytes: 10, MaxWait: 10 * time.Second, ReplicaID: -1, LeaderEpoch: -1}},
		{q: "partition=0&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=&partition=0&offset=0", code: wire.CodeInvalidTopic},
		{q: "topic=a/b&partition=0&offset=0", code: wire.CodeInvalidTopic},
		{q: "topic=..&partition=0&offset=0", code: wire.CodeInvalidTopic},
		{q: "topic=" + strings.Repeat("x", 250) + "&partition=0&offset=0", code: wire.CodeInvalidTopic},
		{q: "topic=t&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=-1&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=2147483648&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=x&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=-1", code: wire.CodeOffsetOutOfRange},
		{q: "topic=t&partition=0&offset=1e3", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=99999999999999999999", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&max_bytes=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&max_bytes=-5", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&min_bytes=-1", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&max_wait_ms=-1", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&replica_id=-2", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&leader_epoch=abc", code: wire.CodeInvalidRequest},
		{q: "topic=t&topic=u&partition=0&offset=0", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&x=" + strings.Repeat("y", 2000), code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&offset=0&unknown=1", want: replica.FetchRequest{Topic: "t", MaxBytes: 1 << 20, MinBytes: 1, MaxWait: 500 * time.Millisecond, ReplicaID: -1, LeaderEpoch: -1}},
	}
	for _, tc := range tests {
		got, err := parseFetch(args(tc.q), testLimits)
		if c := codeOf(err); c != tc.code {
			t.Errorf("%.80s: code %q (%v), want %q", tc.q, c, err, tc.code)
			continue
		}
		if tc.code == "" && got != tc.want {
			t.Errorf("%.80s: got %+v, want %+v", tc.q, got, tc.want)
		}
	}
}

func TestParseProduce(t *testing.T) {
	tests := []struct {
		q       string
		code    wire.Code
		acks    replica.Acks
		timeout time.Duration
	}{
		{q: "topic=t&partition=0", acks: replica.AcksAll, timeout: 30 * time.Second},
		{q: "topic=t&partition=0&acks=all", acks: replica.AcksAll, timeout: 30 * time.Second},
		{q: "topic=t&partition=0&acks=-1&timeout_ms=5", acks: replica.AcksAll, timeout: 5 * time.Millisecond},
		{q: "topic=t&partition=0&acks=1", acks: replica.AcksLeader, timeout: 30 * time.Second},
		{q: "topic=t&partition=0&acks=0&timeout_ms=99999999", acks: replica.AcksNone, timeout: time.Minute},
		{q: "topic=t&partition=0&acks=2", code: wire.CodeInvalidRequiredAcks},
		{q: "topic=t&partition=0&acks=", code: wire.CodeInvalidRequiredAcks},
		{q: "topic=t&partition=0&acks=ALL", code: wire.CodeInvalidRequiredAcks},
		{q: "topic=t&partition=0&timeout_ms=-1", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&replica_id=1", code: wire.CodeInvalidRequest},
		{q: "topic=t", code: wire.CodeInvalidRequest},
	}
	for _, tc := range tests {
		got, err := parseProduce(args(tc.q), testLimits)
		if c := codeOf(err); c != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.q, c, err, tc.code)
			continue
		}
		if tc.code == "" && (got.Acks != tc.acks || got.Timeout != tc.timeout || got.Topic != "t") {
			t.Errorf("%s: got %+v", tc.q, got)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	tests := []struct {
		q    string
		code wire.Code
		kind replica.OffsetKind
		ts   int64
	}{
		{q: "topic=t&partition=0&at=earliest", kind: replica.OffsetEarliest},
		{q: "topic=t&partition=0&at=-2", kind: replica.OffsetEarliest},
		{q: "topic=t&partition=0&at=latest", kind: replica.OffsetLatest},
		{q: "topic=t&partition=0&at=-1", kind: replica.OffsetLatest},
		{q: "topic=t&partition=0&at=1700000000000", kind: replica.OffsetByTimestamp, ts: 1700000000000},
		{q: "topic=t&partition=0&at=0", kind: replica.OffsetByTimestamp},
		{q: "topic=t&partition=0&at=-3", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0&at=yesterday", code: wire.CodeInvalidRequest},
		{q: "topic=t&partition=0", code: wire.CodeInvalidRequest},
	}
	for _, tc := range tests {
		got, err := parseOffsets(args(tc.q))
		if c := codeOf(err); c != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.q, c, err, tc.code)
			continue
		}
		if tc.code == "" && (got.Kind != tc.kind || got.Timestamp != tc.ts) {
			t.Errorf("%s: got %+v", tc.q, got)
		}
	}
}

// FuzzParseRequests feeds arbitrary query strings to every request parser:
// none may panic, every error is a *wire.Error with a known 4xx code, and
// every accepted request is within the server's bounds.
func FuzzParseRequests(f *testing.F) {
	for _, s := range []string{
		"topic=t&partition=0&offset=5",
		"topic=t&partition=0&offset=0&max_bytes=99999999999&min_bytes=7&max_wait_ms=100",
		"topic=t&partition=1&acks=all&timeout_ms=10",
		"topic=t&partition=0&at=earliest",
		"topic=t&partition=0&at=1700000000000",
		"topic=%2e%2e&partition=0",
		"topic=t&topic=t",
		"topic=t&partition=0&offset=-1&replica_id=-2&leader_epoch=9",
		"a=%zz&&&=&topic",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		check := func(name string, err error) {
			if err == nil {
				return
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("%s(%q): error %v is not a *wire.Error", name, q, err)
			}
			if !we.Code.Known() || we.Code.HTTPStatus() < 400 || we.Code.HTTPStatus() >= 500 {
				t.Fatalf("%s(%q): code %s is not a known 4xx code", name, q, we.Code)
			}
		}
		fr, err := parseFetch(args(q), testLimits)
		check("parseFetch", err)
		if err == nil {
			if fr.MaxBytes <= 0 || fr.MaxBytes > testLimits.maxFetchBytes || fr.MinBytes < 0 || fr.MinBytes > fr.MaxBytes ||
				fr.MaxWait < 0 || fr.MaxWait > testLimits.maxFetchWait || fr.Offset < 0 || fr.Partition < 0 ||
				fr.ReplicaID < -1 || fr.LeaderEpoch < -1 || wire.ValidateTopicName(fr.Topic) != nil {
				t.Fatalf("parseFetch(%q) accepted out-of-bounds %+v", q, fr)
			}
		}
		pr, err := parseProduce(args(q), testLimits)
		check("parseProduce", err)
		if err == nil && (!pr.Acks.Valid() || pr.Timeout < 0 || pr.Timeout > testLimits.maxProduceTimeout || pr.Partition < 0) {
			t.Fatalf("parseProduce(%q) accepted out-of-bounds %+v", q, pr)
		}
		oq, err := parseOffsets(args(q))
		check("parseOffsets", err)
		if err == nil && oq.Kind == replica.OffsetByTimestamp && oq.Timestamp < 0 {
			t.Fatalf("parseOffsets(%q) accepted %+v", q, oq)
		}
	})
}
