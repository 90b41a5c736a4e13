package server

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// writeError answers err as the JSON error envelope with its code's status.
// It returns the code, for metrics.
func writeError(ctx *fasthttp.RequestCtx, err error) wire.Code {
	ctx.Response.ResetBody()
	body, status := wire.MarshalError(err)
	ctx.SetStatusCode(status)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return wire.CodeUnknown
}

// writeJSON answers v as JSON with status 200.
func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return wire.Errorf(wire.CodeUnknown, "encode answer: %v", err)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(wire.ContentTypeJSON)
	ctx.SetBody(body)
	return nil
}

// decodeJSON decodes a request body into v, rejecting unknown fields and
// trailing data.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return wire.Errorf(wire.CodeInvalidRequest, "the request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return wire.Errorf(wire.CodeInvalidRequest, "bad JSON body: %v", err)
	}
	if dec.More() {
		return wire.Errorf(wire.CodeInvalidRequest, "bad JSON body: data after the object")
	}
	return nil
}
