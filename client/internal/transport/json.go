package transport

import (
	"encoding/json"
	"fmt"
)

func jsonDecode(data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}
