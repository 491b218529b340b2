@echo off
rem Start the chat backend (python -m app: the app under Granian) on http://localhost:8000 (HOST/PORT from the environment or .env).
setlocal
cd /d "%~dp0"
where py >nul 2>nul && (set "PY=py -3") || (set "PY=python")
if not exist .venv\Scripts\python.exe (
  echo Creating virtual environment in .venv ...
  %PY% -m venv .venv || goto :error
)
.venv\Scripts\python.exe -c "import sys; sys.exit(sys.version_info < (3, 11))" || (
  echo Python 3.11 or newer is needed. & goto :error
)
.venv\Scripts\python.exe -m pip install --quiet --disable-pip-version-check -r requirements.txt || goto :error
if not exist .env echo No .env found: using the environment only (copy env.example to .env to configure).
.venv\Scripts\python.exe -m app %*
goto :eof
:error
echo Start-up failed.
exit /b 1
