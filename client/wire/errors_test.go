package wire

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorRoundTrip(t *testing.T) {
	for _, c := range Codes() {
		in := fmt.Errorf("context: %w", Errorf(c, "detail %d", 7))
		body, status := MarshalError(in)
		if status != c.HTTPStatus() {
			t.Fatalf("%s: status %d, want %d", c, status, c.HTTPStatus())
		}
		out := UnmarshalError(status, body)
		if out.Code != c {
			t.Fatalf("%s: decoded code %s", c, out.Code)
		}
		if !errors.Is(out, &Error{Code: c}) {
			t.Fatalf("%s: errors.Is does not match by code", c)
		}
		if status < 400 {
			t.Fatalf("%s: error status %d is not an error status", c, status)
		}
	}
}

func TestMarshalPlainError(t *testing.T) {
	body, status := MarshalError(errors.New("boom"))
	if status != 500 {
		t.Fatalf("status %d", status)
	}
	if got := UnmarshalError(status, body); got.Code != CodeUnknown || got.Message != "boom" {
		t.Fatalf("got %+v", got)
	}
}

func TestUnmarshalGarbage(t *testing.T) {
	got := UnmarshalError(502, []byte("<html>bad gateway</html>"))
	if got.Code != CodeUnknown || got.Retriable() {
		t.Fatalf("got %+v", got)
	}
}

func TestRetriable(t *testing.T) {
	tests := []struct {
		code Code
		want bool
	}{
		{CodeNotLeaderOrFollower, true},
		{CodeNotEnoughReplicas, true},
		{CodeCorruptMessage, true},
		{CodeMessageTooLarge, false},
		{CodeOffsetOutOfRange, false},
		{Code("NO_SUCH_CODE"), false},
	}
	for _, tt := range tests {
		if got := tt.code.Retriable(); got != tt.want {
			t.Errorf("%s.Retriable() = %v, want %v", tt.code, got, tt.want)
		}
	}
}
