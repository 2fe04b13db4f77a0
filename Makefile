# Entry points for building and testing gopptp. `go test ./...` alone
# skips the interop suite; the interop targets boot QEMU guests with the
# real pptpd/pppd/pptp-linux and need root.

GO ?= go
INTEROP_FLAGS = -v -count=1 -timeout 60m

.PHONY: build test interop interop-quick interop-image fuzz-short fuzz-long

build:
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) test ./...

# Builds the guest image (or reuses /var/cache/pptp-interop) and installs
# the host packages the harness needs.
interop-image:
	interop/harness/build-image

interop: interop-image
	GOPPTP_INTEROP=full $(GO) test $(INTEROP_FLAGS) ./interop/

interop-quick: interop-image
	GOPPTP_INTEROP=quick $(GO) test $(INTEROP_FLAGS) ./interop/

# Every fuzz target for a few seconds (CI), or ten minutes each (the long
# runs the hardening work is judged by); bench/fuzz-long.sh prints a table
# of execs per target.
fuzz-short:
	bench/fuzz-long.sh -t 5s

fuzz-long:
	bench/fuzz-long.sh -t 10m
