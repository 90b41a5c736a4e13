package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable error code carried on the wire. Where Kafka has a name for
// the condition, the code is Kafka's name.
type Code string

// The error codes. The list is append-only: a code, once shipped, keeps its
// meaning.
const (
	CodeUnknown                        Code = "UNKNOWN_SERVER_ERROR"
	CodeCorruptMessage                 Code = "CORRUPT_MESSAGE"
	CodeMessageTooLarge                Code = "MESSAGE_TOO_LARGE"
	CodeRecordListTooLarge             Code = "RECORD_LIST_TOO_LARGE"
	CodeInvalidRecord                  Code = "INVALID_RECORD"
	CodeInvalidTimestamp               Code = "INVALID_TIMESTAMP"
	CodeInvalidRequest                 Code = "INVALID_REQUEST"
	CodeInvalidConfig                  Code = "INVALID_CONFIG"
	CodeInvalidTopic                   Code = "INVALID_TOPIC_EXCEPTION"
	CodeInvalidPartitions              Code = "INVALID_PARTITIONS"
	CodeInvalidReplicationFactor       Code = "INVALID_REPLICATION_FACTOR"
	CodeInvalidRequiredAcks            Code = "INVALID_REQUIRED_ACKS"
	CodeTopicAlreadyExists             Code = "TOPIC_ALREADY_EXISTS"
	CodeUnknownTopicOrPartition        Code = "UNKNOWN_TOPIC_OR_PARTITION"
	CodeOffsetOutOfRange               Code = "OFFSET_OUT_OF_RANGE"
	CodeNotLeaderOrFollower            Code = "NOT_LEADER_OR_FOLLOWER"
	CodeLeaderNotAvailable             Code = "LEADER_NOT_AVAILABLE"
	CodeFencedLeaderEpoch              Code = "FENCED_LEADER_EPOCH"
	CodeUnknownLeaderEpoch             Code = "UNKNOWN_LEADER_EPOCH"
	CodeNotEnoughReplicas              Code = "NOT_ENOUGH_REPLICAS"
	CodeNotEnoughReplicasAfterAppend   Code = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
	CodeRequestTimedOut                Code = "REQUEST_TIMED_OUT"
	CodeKafkaStorageError              Code = "KAFKA_STORAGE_ERROR"
	CodeOutOfOrderSequenceNumber       Code = "OUT_OF_ORDER_SEQUENCE_NUMBER"
	CodeDuplicateSequenceNumber        Code = "DUPLICATE_SEQUENCE_NUMBER"
	CodeInvalidProducerEpoch           Code = "INVALID_PRODUCER_EPOCH"
	CodeUnknownProducerID              Code = "UNKNOWN_PRODUCER_ID"
	CodeStaleControllerEpoch           Code = "STALE_CONTROLLER_EPOCH"
	CodeNotController                  Code = "NOT_CONTROLLER"
	CodeStaleBrokerEpoch               Code = "STALE_BROKER_EPOCH"
	CodeInvalidUpdateVersion           Code = "INVALID_UPDATE_VERSION"
	CodeBrokerNotAvailable             Code = "BROKER_NOT_AVAILABLE"
	CodeDuplicateBrokerRegistration    Code = "DUPLICATE_BROKER_REGISTRATION"
	CodeNotLeader                      Code = "NOT_LEADER"
	CodeNoLeader                       Code = "NO_LEADER"
	CodeUnknownCommand                 Code = "UNKNOWN_COMMAND"
	CodeUnknownMember                  Code = "UNKNOWN_MEMBER_ID"
	CodeIllegalGeneration              Code = "ILLEGAL_GENERATION"
	CodeFencedInstanceID               Code = "FENCED_INSTANCE_ID"
	CodeRebalanceInProgress            Code = "REBALANCE_IN_PROGRESS"
	CodeCoordinatorNotAvailable        Code = "COORDINATOR_NOT_AVAILABLE"
	CodeNotCoordinator                 Code = "NOT_COORDINATOR"
	CodeCoordinatorLoadInProgress      Code = "COORDINATOR_LOAD_IN_PROGRESS"
	CodeGroupIDNotFound                Code = "GROUP_ID_NOT_FOUND"
	CodeNonEmptyGroup                  Code = "NON_EMPTY_GROUP"
	CodeInconsistentGroupProtocol      Code = "INCONSISTENT_GROUP_PROTOCOL"
	CodeOffsetMetadataTooLarge         Code = "OFFSET_METADATA_TOO_LARGE"
	CodeShuttingDown                   Code = "SHUTTING_DOWN"
	CodeInconsistentClusterID          Code = "INCONSISTENT_CLUSTER_ID"
	CodeMemberNotFound                 Code = "MEMBER_NOT_FOUND"
	CodePolicyViolation                Code = "POLICY_VIOLATION"
	CodeInvalidRecordBatchReplicaFetch Code = "INVALID_REPLICA_FETCH"
)

// codeInfo is one row of the error table.
type codeInfo struct {
	status    int  // HTTP status the server answers with
	retriable bool // a client may retry the same request (after a metadata refresh where relevant)
}

// table is the one table of wire error codes: HTTP status and retriable flag.
var table = map[Code]codeInfo{
	CodeUnknown:                        {http.StatusInternalServerError, false},
	CodeCorruptMessage:                 {http.StatusBadRequest, true},
	CodeMessageTooLarge:                {http.StatusRequestEntityTooLarge, false},
	CodeRecordListTooLarge:             {http.StatusRequestEntityTooLarge, false},
	CodeInvalidRecord:                  {http.StatusBadRequest, false},
	CodeInvalidTimestamp:               {http.StatusBadRequest, false},
	CodeInvalidRequest:                 {http.StatusBadRequest, false},
	CodeInvalidConfig:                  {http.StatusBadRequest, false},
	CodeInvalidTopic:                   {http.StatusBadRequest, false},
	CodeInvalidPartitions:              {http.StatusBadRequest, false},
	CodeInvalidReplicationFactor:       {http.StatusBadRequest, false},
	CodeInvalidRequiredAcks:            {http.StatusBadRequest, false},
	CodeTopicAlreadyExists:             {http.StatusConflict, false},
	CodeUnknownTopicOrPartition:        {http.StatusNotFound, true},
	CodeOffsetOutOfRange:               {http.StatusRequestedRangeNotSatisfiable, false},
	CodeNotLeaderOrFollower:            {http.StatusMisdirectedRequest, true},
	CodeLeaderNotAvailable:             {http.StatusServiceUnavailable, true},
	CodeFencedLeaderEpoch:              {http.StatusConflict, true},
	CodeUnknownLeaderEpoch:             {http.StatusConflict, true},
	CodeNotEnoughReplicas:              {http.StatusServiceUnavailable, true},
	CodeNotEnoughReplicasAfterAppend:   {http.StatusServiceUnavailable, true},
	CodeRequestTimedOut:                {http.StatusGatewayTimeout, true},
	CodeKafkaStorageError:              {http.StatusInternalServerError, true},
	CodeOutOfOrderSequenceNumber:       {http.StatusConflict, false},
	CodeDuplicateSequenceNumber:        {http.StatusConflict, false},
	CodeInvalidProducerEpoch:           {http.StatusConflict, false},
	CodeUnknownProducerID:              {http.StatusConflict, false},
	CodeStaleControllerEpoch:           {http.StatusConflict, false},
	CodeNotController:                  {http.StatusMisdirectedRequest, true},
	CodeStaleBrokerEpoch:               {http.StatusConflict, false},
	CodeInvalidUpdateVersion:           {http.StatusConflict, false},
	CodeBrokerNotAvailable:             {http.StatusServiceUnavailable, true},
	CodeDuplicateBrokerRegistration:    {http.StatusConflict, false},
	CodeNotLeader:                      {http.StatusMisdirectedRequest, true},
	CodeNoLeader:                       {http.StatusServiceUnavailable, true},
	CodeUnknownCommand:                 {http.StatusBadRequest, false},
	CodeUnknownMember:                  {http.StatusConflict, false},
	CodeIllegalGeneration:              {http.StatusConflict, false},
	CodeFencedInstanceID:               {http.StatusConflict, false},
	CodeRebalanceInProgress:            {http.StatusConflict, true},
	CodeCoordinatorNotAvailable:        {http.StatusServiceUnavailable, true},
	CodeNotCoordinator:                 {http.StatusMisdirectedRequest, true},
	CodeCoordinatorLoadInProgress:      {http.StatusServiceUnavailable, true},
	CodeGroupIDNotFound:                {http.StatusNotFound, false},
	CodeNonEmptyGroup:                  {http.StatusConflict, false},
	CodeInconsistentGroupProtocol:      {http.StatusBadRequest, false},
	CodeOffsetMetadataTooLarge:         {http.StatusBadRequest, false},
	CodeShuttingDown:                   {http.StatusServiceUnavailable, true},
	CodeInconsistentClusterID:          {http.StatusConflict, false},
	CodeMemberNotFound:                 {http.StatusNotFound, false},
	CodePolicyViolation:                {http.StatusBadRequest, false},
	CodeInvalidRecordBatchReplicaFetch: {http.StatusBadRequest, false},
}

// HTTPStatus is the status a server answers an error of this code with.
func (c Code) HTTPStatus() int {
	if info, ok := table[c]; ok {
		return info.status
	}
	return http.StatusInternalServerError
}

// Retriable reports whether a client may retry a request that failed with
// this code. Unknown codes are not retriable.
func (c Code) Retriable() bool { return table[c].retriable }

// Known reports whether c is in the table.
func (c Code) Known() bool { _, ok := table[c]; return ok }

// Codes lists every known code, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(table))
	for c := range table {
		out = append(out, c)
	}
	return out
}

// Error is an error with a stable wire code. Servers answer it as the JSON
// envelope {"error": {"code": ..., "message": ...}} with the code's HTTP
// status; clients decode it back into an *Error.
//
// errors.Is(err, wire.ErrNotLeaderOrFollower) matches any *Error of that code,
// whatever its message.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Leader and LeaderEpoch name the current leader when the code is
	// NOT_LEADER_OR_FOLLOWER or NOT_LEADER and the server knows it; -1 otherwise.
	Leader      *int32 `json:"leader,omitempty"`
	LeaderEpoch *int32 `json:"leader_epoch,omitempty"`
	// LeaderAddr is the current leader's API address, when known.
	LeaderAddr string `json:"leader_addr,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is matches another *Error of the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Retriable reports whether the request may be retried.
func (e *Error) Retriable() bool { return e.Code.Retriable() }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is at call sites. They carry no message.
var (
	ErrCorruptMessage          = &Error{Code: CodeCorruptMessage}
	ErrMessageTooLarge         = &Error{Code: CodeMessageTooLarge}
	ErrInvalidRecord           = &Error{Code: CodeInvalidRecord}
	ErrInvalidRequest          = &Error{Code: CodeInvalidRequest}
	ErrUnknownTopicOrPartition = &Error{Code: CodeUnknownTopicOrPartition}
	ErrOffsetOutOfRange        = &Error{Code: CodeOffsetOutOfRange}
	ErrNotLeaderOrFollower     = &Error{Code: CodeNotLeaderOrFollower}
	ErrFencedLeaderEpoch       = &Error{Code: CodeFencedLeaderEpoch}
	ErrUnknownLeaderEpoch      = &Error{Code: CodeUnknownLeaderEpoch}
	ErrNotEnoughReplicas       = &Error{Code: CodeNotEnoughReplicas}
	ErrRequestTimedOut         = &Error{Code: CodeRequestTimedOut}
	ErrStaleControllerEpoch    = &Error{Code: CodeStaleControllerEpoch}
	ErrNotLeader               = &Error{Code: CodeNotLeader}
	ErrNoLeader                = &Error{Code: CodeNoLeader}
	ErrShuttingDown            = &Error{Code: CodeShuttingDown}
)

// envelope is the JSON body of an error answer.
type envelope struct {
	Error *Error `json:"error"`
}

// MarshalError renders err as the JSON error envelope and returns the body
// and HTTP status. An error that is not (and does not wrap) an *Error is
// answered as UNKNOWN_SERVER_ERROR with its text.
func MarshalError(err error) (body []byte, status int) {
	var we *Error
	if !errors.As(err, &we) {
		we = &Error{Code: CodeUnknown, Message: err.Error()}
	} else if we.Message == "" {
		// Keep the context the wrapping added.
		cp := *we
		cp.Message = err.Error()
		we = &cp
	}
	body, _ = json.Marshal(envelope{Error: we})
	return body, we.Code.HTTPStatus()
}

// UnmarshalError decodes an error envelope. It returns an *Error of code
// UNKNOWN_SERVER_ERROR naming the status when the body is not an envelope.
func UnmarshalError(status int, body []byte) *Error {
	var env envelope
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil && env.Error.Code != "" {
		return env.Error
	}
	msg := string(body)
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return &Error{Code: CodeUnknown, Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
}
