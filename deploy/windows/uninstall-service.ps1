<#
.SYNOPSIS
  Stops and removes the scimapp Windows service installed by install-service.ps1 (data in instance\ is kept).
#>
param(
    [Parameter(Mandatory = $true)][string]$NssmPath,
    [string]$ServiceName = "scimapp"
)
$ErrorActionPreference = "Stop"
if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    Stop-Service -Name $ServiceName -ErrorAction SilentlyContinue
    & $NssmPath remove $ServiceName confirm
    Write-Host "Removed the service $ServiceName. The instance folder (database, keys) is untouched."
} else {
    Write-Host "No service named $ServiceName."
}
