using CircuitDsl.Cli;

return CircuitCli.Build().Parse(args).Invoke();
