// Package config reads the configuration files of a PoPToP/pppd
// installation so that gopptp can replace them without changes to the
// user's files:
//
//   - pptpd.conf, the PoPToP daemon configuration ([ParsePptpdConf]);
//   - pppd options files and pppd-style command lines ([ParseOptionsFile],
//     [ParseOptionWords]), with [PPPOptions.ServerPolicy] and
//     [PPPOptions.ClientPolicy] turning the options into the effective
//     authentication and MPPE policy of each role;
//   - chap-secrets and pap-secrets ([ParseSecrets], [LoadSecrets]).
//
// The package only parses. It reads the files it is asked to read (and the
// files they include), and returns values, warnings about things it
// accepted but ignores, and errors that name the file and line at fault.
package config
