package server

import (
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
	"strand.dev/dataplane/replica"
)

// Defaults of the optional query parameters, as client/wire documents them.
const (
	defaultFetchMaxBytes   = 1 << 20
	defaultFetchMinBytes   = 1
	defaultFetchMaxWait    = 500 * time.Millisecond
	defaultProduceTimeout  = 30 * time.Second
	maxParamValueLen       = 1024
	maxQueryParams         = 32
	maxDurationParamMillis = math.MaxInt32
)

// paramLimits are the server-side bounds that parsing clamps to.
type paramLimits struct {
	maxFetchBytes     int32
	maxFetchWait      time.Duration
	maxProduceTimeout time.Duration
}

// query is the parsed query string of one request: every parameter once.
// Values alias the request's memory and are valid for the handler's run.
type query struct {
	vals map[string][]byte
}

// parseQuery collects the query parameters, rejecting a parameter given
// twice, too many parameters and oversized values. Unknown parameters are
// kept and ignored, so that clients may send newer ones.
func parseQuery(args *fasthttp.Args) (query, error) {
	q := query{vals: make(map[string][]byte, 8)}
	var err error
	n := 0
	args.VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		n++
		switch {
		case n > maxQueryParams:
			err = wire.Errorf(wire.CodeInvalidRequest, "more than %d query parameters", maxQueryParams)
		case len(v) > maxParamValueLen:
			err = wire.Errorf(wire.CodeInvalidRequest, "query parameter %.64q is longer than %d bytes", k, maxParamValueLen)
		default:
			key := string(k)
			if _, dup := q.vals[key]; dup {
				err = wire.Errorf(wire.CodeInvalidRequest, "query parameter %.64q is given more than once", key)
				return
			}
			q.vals[key] = v
		}
	})
	return q, err
}

// str returns a parameter and whether it was given.
func (q query) str(name string) (string, bool) {
	v, ok := q.vals[name]
	return string(v), ok
}

// int64Param parses an integer parameter; def is used when it is absent.
func (q query) int64Param(name string, def int64) (int64, error) {
	v, ok := q.vals[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%.64q is not an integer", name, v)
	}
	return n, nil
}

// requireInt64 parses an integer parameter that must be present.
func (q query) requireInt64(name string) (int64, error) {
	if _, ok := q.vals[name]; !ok {
		return 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s is missing", name)
	}
	return q.int64Param(name, 0)
}

// millis parses a duration in milliseconds: absent gives def, negative is an
// error, more than max is clamped to max.
func (q query) millis(name string, def, max time.Duration) (time.Duration, error) {
	ms, err := q.int64Param(name, int64(def/time.Millisecond))
	if err != nil {
		return 0, err
	}
	if ms < 0 {
		return 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%d is negative", name, ms)
	}
	if ms > maxDurationParamMillis {
		ms = maxDurationParamMillis
	}
	return min(time.Duration(ms)*time.Millisecond, max), nil
}

// topicPartition parses the topic and partition every data path names.
func (q query) topicPartition() (string, int32, error) {
	topic, ok := q.str(wire.ParamTopic)
	if !ok {
		return "", 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s is missing", wire.ParamTopic)
	}
	if err := wire.ValidateTopicName(topic); err != nil {
		return "", 0, err
	}
	p, err := q.requireInt64(wire.ParamPartition)
	if err != nil {
		return "", 0, err
	}
	if p < 0 || p > math.MaxInt32 {
		return "", 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%d is out of range [0, %d]", wire.ParamPartition, p, math.MaxInt32)
	}
	return topic, int32(p), nil
}

// nodeID parses replica_id or leader_epoch: -1 (the default) or a
// non-negative int32.
func (q query) optionalID(name string) (int32, error) {
	v, err := q.int64Param(name, -1)
	if err != nil {
		return 0, err
	}
	if v < -1 || v > math.MaxInt32 {
		return 0, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%d is out of range [-1, %d]", name, v, math.MaxInt32)
	}
	return int32(v), nil
}

// parseAcks reads Kafka's acks values; "all" is a synonym of -1.
func parseAcks(s string, given bool) (replica.Acks, error) {
	if !given {
		return replica.AcksAll, nil
	}
	switch s {
	case "all", "-1":
		return replica.AcksAll, nil
	case "1":
		return replica.AcksLeader, nil
	case "0":
		return replica.AcksNone, nil
	}
	return 0, wire.Errorf(wire.CodeInvalidRequiredAcks, "acks=%.16q: use all, -1, 1 or 0", s)
}

// parseProduce parses a produce's query; the caller attaches the body.
func parseProduce(args *fasthttp.Args, lim paramLimits) (replica.AppendRequest, error) {
	var req replica.AppendRequest
	q, err := parseQuery(args)
	if err != nil {
		return req, err
	}
	if req.Topic, req.Partition, err = q.topicPartition(); err != nil {
		return req, err
	}
	if _, ok := q.vals[wire.ParamReplicaID]; ok {
		return req, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s is not allowed on produce", wire.ParamReplicaID)
	}
	acks, given := q.str(wire.ParamAcks)
	if req.Acks, err = parseAcks(acks, given); err != nil {
		return req, err
	}
	if req.Timeout, err = q.millis(wire.ParamTimeoutMs, defaultProduceTimeout, lim.maxProduceTimeout); err != nil {
		return req, err
	}
	return req, nil
}

// parseFetch parses a fetch's query. max_bytes above the server's limit is
// clamped to it; min_bytes above max_bytes is clamped to max_bytes; a wait
// above the server's limit is clamped to it. A negative offset is
// OFFSET_OUT_OF_RANGE, as Kafka answers it.
func parseFetch(args *fasthttp.Args, lim paramLimits) (replica.FetchRequest, error) {
	var req replica.FetchRequest
	q, err := parseQuery(args)
	if err != nil {
		return req, err
	}
	if req.Topic, req.Partition, err = q.topicPartition(); err != nil {
		return req, err
	}
	if req.Offset, err = q.requireInt64(wire.ParamOffset); err != nil {
		return req, err
	}
	if req.Offset < 0 {
		return req, wire.Errorf(wire.CodeOffsetOutOfRange, "offset %d is negative", req.Offset)
	}
	maxBytes, err := q.int64Param(wire.ParamMaxBytes, defaultFetchMaxBytes)
	if err != nil {
		return req, err
	}
	if maxBytes <= 0 {
		return req, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%d must be positive", wire.ParamMaxBytes, maxBytes)
	}
	req.MaxBytes = int32(min(maxBytes, int64(lim.maxFetchBytes)))
	minBytes, err := q.int64Param(wire.ParamMinBytes, defaultFetchMinBytes)
	if err != nil {
		return req, err
	}
	if minBytes < 0 {
		return req, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s=%d is negative", wire.ParamMinBytes, minBytes)
	}
	req.MinBytes = int32(min(minBytes, int64(req.MaxBytes)))
	if req.MaxWait, err = q.millis(wire.ParamMaxWaitMs, defaultFetchMaxWait, lim.maxFetchWait); err != nil {
		return req, err
	}
	if req.ReplicaID, err = q.optionalID(wire.ParamReplicaID); err != nil {
		return req, err
	}
	if req.LeaderEpoch, err = q.optionalID(wire.ParamLeaderEpoch); err != nil {
		return req, err
	}
	return req, nil
}

// parseOffsets parses a list-offsets query. at is earliest, latest, or a
// timestamp in Unix ms; Kafka's sentinels -1 (latest) and -2 (earliest) are
// accepted too.
func parseOffsets(args *fasthttp.Args) (replica.OffsetQuery, error) {
	var oq replica.OffsetQuery
	q, err := parseQuery(args)
	if err != nil {
		return oq, err
	}
	if oq.Topic, oq.Partition, err = q.topicPartition(); err != nil {
		return oq, err
	}
	at, ok := q.str(wire.ParamAt)
	if !ok {
		return oq, wire.Errorf(wire.CodeInvalidRequest, "query parameter %s is missing (earliest, latest or a Unix ms timestamp)", wire.ParamAt)
	}
	switch at {
	case wire.AtEarliest, "-2":
		oq.Kind = replica.OffsetEarliest
	case wire.AtLatest, "-1":
		oq.Kind = replica.OffsetLatest
	default:
		ts, err := strconv.ParseInt(at, 10, 64)
		if err != nil || ts < 0 {
			return oq, wire.Errorf(wire.CodeInvalidRequest, "%s=%.64q: use earliest, latest or a Unix ms timestamp", wire.ParamAt, at)
		}
		oq.Kind = replica.OffsetByTimestamp
		oq.Timestamp = ts
	}
	return oq, nil
}
