# Creates .venv and installs vj with its test extras on Windows (PowerShell); idempotent.
# The logic is in scripts/bootstrap.py (the same one scripts/bootstrap.sh runs). $env:PYTHON picks
# the interpreter that makes the venv; otherwise the py launcher, then python on PATH.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
if ($env:PYTHON) { $py = @($env:PYTHON) }
elseif (Get-Command py -ErrorAction SilentlyContinue) { $py = @("py", "-3") }
else { $py = @("python") }
$exe = $py[0]
$rest = @($py | Select-Object -Skip 1)
& $exe @rest scripts\bootstrap.py
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
