package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadAndPending(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql":  {Data: []byte("B")},
		"m/0001_init.sql":  {Data: []byte("A")},
		"m/0010_later.sql": {Data: []byte("C")},
		"m/readme.txt":     {Data: []byte("x")},
	}
	ms, err := Load(fsys, "m")
	if err != nil || len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[0].SQL != "A" || Latest(ms) != 10 {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for _, tc := range []struct {
		name    string
		current int
		migrate bool
		want    int
		err     string
	}{
		{"NewDatabase", 0, false, 3, ""},
		{"Current", 10, false, 0, ""},
		{"ErrBehind", 2, false, 0, "behind"},
		{"BehindWithMigrate", 2, true, 1, ""},
		{"ErrNewer", 11, true, 0, "newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Pending(ms, tc.current, tc.migrate)
			if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) || len(p) != tc.want {
				t.Fatalf("Pending = %d, %v", len(p), err)
			}
		})
	}
	if _, err := Load(fstest.MapFS{"m/init.sql": {}}, "m"); err == nil {
		t.Fatal("unnumbered file accepted")
	}
}
