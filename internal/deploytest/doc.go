// Package deploytest holds fast checks of the deployment files at the root of
// the repository (docker-compose.yml and the e2e override). It has no code of
// its own; the docker-driven end-to-end suite lives in /e2e.
package deploytest
