package membership

import (
	"strings"
	"testing"
)

func TestCheckAdvertise(t *testing.T) {
	for _, tc := range []struct {
		listen, advertise string
		cluster           bool
		wantErr           string // "" for no error
	}{
		{listen: "127.0.0.1:9092", cluster: true},
		{listen: "127.0.0.1:0", cluster: true},
		{listen: "0.0.0.0:9092", cluster: false},
		{listen: ":9092", cluster: false},
		{listen: "0.0.0.0:9092", cluster: true, wantErr: "binds every interface"},
		{listen: ":9092", cluster: true, wantErr: "binds every interface"},
		{listen: "[::]:9092", cluster: true, wantErr: "binds every interface"},
		{listen: "0.0.0.0:9092", advertise: "data-1:9092", cluster: true},
		{listen: "0.0.0.0:9092", advertise: "10.0.0.5:9092", cluster: true},
		{listen: "localhost", cluster: true, wantErr: "--listen (STRAND_LISTEN) \"localhost\" is not host:port"},
		{listen: "0.0.0.0:9092", advertise: "data-1", cluster: true, wantErr: "is not host:port"},
		{listen: "0.0.0.0:9092", advertise: "0.0.0.0:9092", cluster: true, wantErr: "no address others can reach"},
		{listen: "127.0.0.1:9092", advertise: ":9092", cluster: false, wantErr: "no address others can reach"},
		{listen: "127.0.0.1:9092", advertise: "host:0", cluster: true, wantErr: "no address others can reach"},
	} {
		err := CheckAdvertise(tc.listen, "advertise-addr", tc.advertise, tc.cluster)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckAdvertise(%q, %q, cluster=%v) = %v, want nil", tc.listen, tc.advertise, tc.cluster, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckAdvertise(%q, %q, cluster=%v) = %v, want an error with %q", tc.listen, tc.advertise, tc.cluster, err, tc.wantErr)
		case tc.wantErr != "" && tc.advertise != "" && !strings.Contains(err.Error(), "STRAND_ADVERTISE_ADDR"):
			t.Errorf("error %q does not name the environment twin", err)
		}
	}
}
