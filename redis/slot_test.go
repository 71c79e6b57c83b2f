package redis

import "testing"

func TestSlot(t *testing.T) {
	// Expected values from CLUSTER KEYSLOT on Redis 7.
	tests := []struct {
		key  string
		want uint16
	}{
		{"123456789", 12739}, // the CRC16/XMODEM check value 0x31C3, mod 16384
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"", 0},
	}
	for _, tt := range tests {
		if got := slot(tt.key); got != tt.want {
			t.Errorf("slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}
