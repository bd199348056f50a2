//go:build !unix

package migrate

import "os"

// lockDir checks that dir exists; elsewhere than on Unix, Creates at the
// same moment may take the same version.
func lockDir(dir string) (func(), error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return func() {}, nil
}
