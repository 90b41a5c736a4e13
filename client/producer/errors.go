package producer

import "errors"

// Errors the producer reports to callbacks and from Send, Flush and Close.
// Errors from the cluster are *wire.Error values (errors.Is against the
// wire sentinels, e.g. wire.ErrMessageTooLarge) wrapped with context.
var (
	// ErrClosed: the producer is closed (or closing) and takes no records;
	// also given to records still buffered when Close gave up waiting.
	ErrClosed = errors.New("producer closed")
	// ErrRecordTooLarge: the record is larger than MaxRequestSize or
	// BufferMemory allows, or than the topic's max.message.bytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrBufferFull: Send waited MaxBlock (or until its context ended) for
	// buffer memory and got none.
	ErrBufferFull = errors.New("producer buffer full")
	// ErrDeliveryTimeout: the record was not acknowledged within
	// DeliveryTimeout of being buffered. The record may or may not have
	// been written; it was not acknowledged.
	ErrDeliveryTimeout = errors.New("delivery timeout")
	// ErrUnknownTopic: the topic did not appear in the cluster metadata
	// within MaxBlock.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrInvalidPartition: with partitioner.Manual, the record names a
	// partition the topic does not have.
	ErrInvalidPartition = errors.New("invalid partition")
	// ErrIdempotenceUnsupported is returned by no function any more:
	// idempotent produce is supported. It remains so that code written
	// against earlier versions still compiles.
	//
	// Deprecated: New accepts Idempotence(true).
	ErrIdempotenceUnsupported = errors.New("idempotent produce is not supported")
)
