<#
.SYNOPSIS
  Installs scimapp as a Windows service with NSSM (https://nssm.cc), and starts it.

.DESCRIPTION
  NSSM runs the same command you run by hand (python app.py) as a service: it starts it at boot, restarts it when it
  stops, passes the environment and writes its output to rotating log files. scimapp needs no service-specific
  code for this, so what you tested in a console is exactly what runs as the service.

  Run from an elevated PowerShell, in the scimapp folder (the one with app.py):
    .\deploy\windows\install-service.ps1 -NssmPath C:\tools\nssm\win64\nssm.exe `
        -ExternalUrl https://scim.example.org

.PARAMETER NssmPath        Full path of nssm.exe (download it from https://nssm.cc).
.PARAMETER ServiceName     Windows service name (default scimapp).
.PARAMETER ListenHost      Address to listen on (default 127.0.0.1: put IIS or another TLS proxy in front).
.PARAMETER Port            Port (default 8000).
.PARAMETER ExternalUrl     Public https base URL; the Tenant URL is this + /scim/v2.
.PARAMETER TrustProxy      Number of reverse proxies whose X-Forwarded-* headers to trust (default 1).
.PARAMETER Python          Python 3.11+ used to create the virtual environment (default: py -3).
#>
param(
    [Parameter(Mandatory = $true)][string]$NssmPath,
    [string]$ServiceName = "scimapp",
    [string]$ListenHost = "127.0.0.1",
    [int]$Port = 8000,
    [string]$ExternalUrl = "",
    [int]$TrustProxy = 1,
    [string]$Python = ""
)
$ErrorActionPreference = "Stop"

$AppDir = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
if (-not (Test-Path (Join-Path $AppDir "app.py"))) { throw "app.py not found in $AppDir" }
if (-not (Test-Path $NssmPath)) { throw "nssm.exe not found at $NssmPath (download it from https://nssm.cc)" }

$Venv = Join-Path $AppDir ".venv"
$VenvPython = Join-Path $Venv "Scripts\python.exe"
if (-not (Test-Path $VenvPython)) {
    Write-Host "Creating the virtual environment in $Venv"
    if ($Python) { & $Python -m venv $Venv } else { & py -3 -m venv $Venv }
    if ($LASTEXITCODE -ne 0) { throw "could not create the virtual environment" }
}
Write-Host "Installing the pinned requirements"
& $VenvPython -m pip install --disable-pip-version-check -r (Join-Path $AppDir "requirements.txt")
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

$Logs = Join-Path $AppDir "logs"
New-Item -ItemType Directory -Force -Path $Logs | Out-Null

if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    throw "a service named $ServiceName exists already (remove it with uninstall-service.ps1 first)"
}
& $NssmPath install $ServiceName $VenvPython "app.py --host $ListenHost --port $Port"
& $NssmPath set $ServiceName AppDirectory $AppDir
& $NssmPath set $ServiceName DisplayName "scimapp (SCIM provisioning endpoint)"
& $NssmPath set $ServiceName Description "Receives users and groups from the identity provider over SCIM 2.0."
& $NssmPath set $ServiceName Start SERVICE_AUTO_START
$envLines = @("SCIMAPP_TRUST_PROXY=$TrustProxy", "PYTHONUNBUFFERED=1")
if ($ExternalUrl) { $envLines += "SCIMAPP_EXTERNAL_URL=$ExternalUrl" }
& $NssmPath set $ServiceName AppEnvironmentExtra $envLines
& $NssmPath set $ServiceName AppStdout (Join-Path $Logs "scimapp.log")
& $NssmPath set $ServiceName AppStderr (Join-Path $Logs "scimapp.log")
& $NssmPath set $ServiceName AppRotateFiles 1
& $NssmPath set $ServiceName AppRotateOnline 1
& $NssmPath set $ServiceName AppRotateBytes 10485760
& $NssmPath set $ServiceName AppExit Default Restart
& $NssmPath set $ServiceName AppRestartDelay 5000
# waitress stops cleanly on Ctrl+C; give it time before NSSM escalates.
& $NssmPath set $ServiceName AppStopMethodConsole 10000

Start-Service -Name $ServiceName
Start-Sleep -Seconds 3
try {
    $health = Invoke-RestMethod -Uri "http://${ListenHost}:$Port/healthz" -TimeoutSec 10
    Write-Host "scimapp is running: /healthz says $($health.status)"
} catch {
    Write-Warning "the service started but /healthz did not answer yet; see $Logs\scimapp.log"
}
Write-Host "The first-run set-up code (until sign-in is set up) is in $Logs\scimapp.log"
