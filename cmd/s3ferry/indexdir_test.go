package main

import (
	"os"
	"strings"
	"testing"
)

func TestRootIsRefusedAnotherUsersIndex(t *testing.T) {
	dir := t.TempDir()
	if err := checkIndexOwner(dir, 1000); err != nil {
		t.Fatalf("non-root: %v, want no check", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	if err := checkIndexOwner(dir, 0); err != nil {
		t.Fatalf("root on a root-owned index: %v", err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := checkIndexOwner(dir, 0)
	if err == nil || !strings.Contains(err.Error(), "sudo -u nobody") {
		t.Fatalf("root on nobody's index: %v, want a refusal naming the user", err)
	}
}
