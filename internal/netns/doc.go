// Package netns builds throwaway hosts for integration tests out of Linux
// network namespaces.
//
// A test creates a few hosts with [NewHost], wires them together with
// [Connect] (a veth pair per link), runs commands and daemons inside them
// ([Host.MustRun], [Host.Start]), runs Go code inside them ([Host.Do],
// [Host.Listen], [Host.Dial]) and checks the traffic between them ([Ping],
// [TransferTCP]). Everything a test creates is torn down by t.Cleanup, also
// when the test fails or panics.
//
// The package needs root, iproute2's ip and a kernel with network
// namespaces and veth; call [RequireRoot] first so that the test is skipped
// cleanly elsewhere. Namespaces are created with "ip netns add", so while a
// test is paused they can be inspected with "ip netns exec NAME ...".
package netns
