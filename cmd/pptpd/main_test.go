package main

import (
	"testing"
	"time"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/server"
)

func TestDefenseFromConf(t *testing.T) {
	def := server.DefaultDefense()
	if got := defense(config.DefaultPptpdConfig()); got != def {
		t.Errorf("no keys: %+v, want the defaults %+v", got, def)
	}
	pc := config.DefaultPptpdConfig()
	pc.MaxStarting, pc.MaxHalfOpen, pc.ConnectionRate, pc.LockoutFailures = 7, 9, 4, -1
	pc.LockoutTime = 2 * time.Hour
	got := defense(pc)
	want := def
	want.MaxStarting, want.MaxHalfOpen, want.ConnRate, want.ConnBurst, want.LockoutFailures = 7, 9, 4, 12, 0
	want.LockoutTime, want.LockoutMax = 2*time.Hour, 2*time.Hour
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	pc = config.DefaultPptpdConfig()
	pc.ConnectionRate = -1
	if got := defense(pc); got.ConnRate != 0 {
		t.Errorf("connection-rate off: rate %v", got.ConnRate)
	}
}
