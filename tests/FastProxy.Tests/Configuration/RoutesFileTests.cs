using FastProxy.Configuration;
using static FastProxy.Tests.Support.ExampleEndpoints;

namespace FastProxy.Tests.Configuration;

public sealed class RoutesFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-routes-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteFile(string json)
    {
        var path = Path.Combine(_directory, "routes.json");
        File.WriteAllText(path, json);
        return path;
    }

    private ConfigurationResult LoadYaml(string yaml, string fileName = "routes.yaml")
    {
        var path = Path.Combine(_directory, fileName);
        File.WriteAllText(path, yaml);
        return Load(new Dictionary<string, string> { ["ROUTES_FILE"] = path, ["IDENTITY_TYPE"] = "systemassigned" });
    }

    private static ConfigurationResult Load(Dictionary<string, string> environment, Dictionary<Setting, string?>? flags = null) =>
        new ConfigurationLoader(flags ?? [], name => environment.GetValueOrDefault(name)).Load();

    private ConfigurationResult LoadJson(string json, params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string> { ["ROUTES_FILE"] = WriteFile(json), ["IDENTITY_TYPE"] = "systemassigned" };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return Load(environment);
    }

    private static string Error(ConfigurationResult result)
    {
        Assert.False(result.IsValid);
        return Assert.Single(result.Errors);
    }

    [Fact]
    public void TwoRoutes_GetTheirTargetsAudiencesAndIdentities()
    {
        var result = LoadJson($$$"""
            {"routes":[
              {"name":"ingestion","pathPrefix":"/dataCollectionRules/","target":"{{{Ingest}}}","audience":"https://monitor.azure.com"},
              // comments and trailing commas are allowed
              {"name":"query","pathPrefix":"/api/v1/","target":"{{{Query}}}","identity":{"type":"userassigned","clientId":"{{{ClientId}}}"}},
            ]}
            """);

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var routes = result.Options!.Routes;
        Assert.Equal(2, routes.Count);
        Assert.Equal(("ingestion", "/dataCollectionRules/", Ingest, Audience.IngestionScope, (IdentityOptions?)null),
            (routes[0].Name, routes[0].PathPrefix, routes[0].Target.Base, routes[0].Scope, routes[0].Identity));
        Assert.Null(routes[0].ExactPath);
        Assert.Equal("query", routes[1].Name);
        Assert.Equal(Audience.QueryScope, routes[1].Scope); // the default for a query endpoint
        Assert.Equal(IdentityType.UserAssigned, routes[1].Identity!.Type);
        Assert.Equal(ClientId, routes[1].Identity!.ClientId);
        Assert.Equal(IdentityType.SystemAssigned, result.Options.Identity.Type);
    }

    [Fact]
    public void ExactPathRoute_TakesAFullIngestionUrl()
    {
        var result = LoadJson($$$"""
            {"routes":[{"name":"write","path":"/api/v1/write","target":"{{{Ingest}}}/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24"},
                       {"name":"rest","pathPrefix":"/","target":"{{{Query}}}"}]}
            """);

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal("/api/v1/write", result.Options!.Routes[0].ExactPath);
        Assert.Contains("api-version=2023-04-24", result.Options.Routes[0].Target.Base, StringComparison.Ordinal);
        Assert.Equal(Audience.IngestionScope, result.Options.Routes[0].Scope);
    }

    [Fact]
    public void FlagNamesTheFileToo()
    {
        var path = WriteFile($$$"""{"routes":[{"name":"all","pathPrefix":"/","target":"{{{Ingest}}}"}]}""");
        var result = Load(new Dictionary<string, string>(), new Dictionary<Setting, string?> { [Settings.RoutesFile] = path });

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal("/", Assert.Single(result.Options!.Routes).PathPrefix);
    }

    [Fact]
    public void MissingFile_IsOneLineNamingTheVariable()
    {
        var result = Load(new Dictionary<string, string> { ["ROUTES_FILE"] = Path.Combine(_directory, "nope.json") });

        var error = Error(result);
        Assert.StartsWith("ROUTES_FILE ", error, StringComparison.Ordinal);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidJson_SaysLineAndPosition()
    {
        var error = Error(LoadJson("{\"routes\":[\n  {\"name\": \"a\",, }\n]}"));

        Assert.Contains("is not valid JSON at line 2, position", error, StringComparison.Ordinal);
        Assert.StartsWith("ROUTES_FILE ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"h","audeince":"x"}]}""", "unknown field \"audeince\"")]
    [InlineData("""{"routes":[{"name":"a","PathPrefix":"/","target":"h"}]}""", "did you mean \"pathPrefix\"?")]
    [InlineData("""{"route":[]}""", "unknown field \"route\"")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"h","identity":{"type":"systemassigned","clinetId":"x"}}]}""", "identity: unknown field \"clinetId\"")]
    public void UnknownFields_AreErrors(string json, string expected) =>
        Assert.Contains(LoadJson(json).Errors, e => e.Contains(expected, StringComparison.Ordinal));

    [Theory]
    [InlineData("""{"routes":[]}""", "non-empty array")]
    [InlineData("""[]""", "must hold a JSON object")]
    [InlineData("""{"routes":[{"pathPrefix":"/","target":"h"}]}""", "has no \"name\"")]
    [InlineData("""{"routes":[{"name":"a b","pathPrefix":"/","target":"h"}]}""", "name \"a b\" must be")]
    [InlineData("""{"routes":[{"name":"a","target":"h"}]}""", "neither \"pathPrefix\"")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"api","target":"h"}]}""", "must start with '/'")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","path":"/x","target":"h"}]}""", "both \"pathPrefix\" and \"path\"")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/"}]}""", "has no \"target\"")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"ftp://h"}]}""", "routes[0] (\"a\"): target scheme 'ftp' is not supported")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"https://h?x=1"}]}""", "target must not carry a query string")]
    [InlineData("""{"routes":[{"name":"a","path":"/api/v1/write","target":"https://h"}]}""", "target has no path")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"h","audience":"nope"}]}""", "audience 'nope' is not an audience")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":5}]}""", "target must be a string")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/","target":"h"},{"name":"A","pathPrefix":"/x","target":"h"}]}""", "routes[1] (\"A\"): name \"A\" is also the name of routes[0]")]
    [InlineData("""{"routes":[{"name":"a","pathPrefix":"/x","target":"h"},{"name":"b","pathPrefix":"/x","target":"h"}]}""", "routes[1] (\"b\"): pathPrefix \"/x\" is also that of routes[0]")]
    public void InvalidRoutes_AreOneClearLineEach(string json, string expected)
    {
        var error = Error(LoadJson(json));

        Assert.StartsWith("ROUTES_FILE ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"managed"}""", "type \"managed\" is not an identity type")]
    [InlineData("""{"clientId":"x"}""", "has no \"type\"")]
    [InlineData("""{"type":"userassigned"}""", "exactly one of clientId, resourceId and objectId")]
    [InlineData("""{"type":"userassigned","clientId":"not-a-guid"}""", "clientId 'not-a-guid' is not a GUID")]
    [InlineData("""{"type":"userassigned","resourceId":"/subscriptions/x"}""", "is not a managed identity resource id")]
    [InlineData("""{"type":"systemassigned","clientId":"abcd1234-1243-abcd-9876-1234abcd5678"}""", "clientId does not apply to type systemassigned")]
    [InlineData("""{"type":"aadapplication","clientId":"abcd1234-1243-abcd-9876-1234abcd5678","tenantId":"t"}""", "exactly one of certificatePath and clientSecretFile")]
    [InlineData("""{"type":"aadapplication","clientId":"abcd1234-1243-abcd-9876-1234abcd5678","certificatePath":"/c.pem"}""", "needs tenantId")]
    [InlineData("""{"type":"aadapplication","clientId":"abcd1234-1243-abcd-9876-1234abcd5678","tenantId":"t","clientSecretFile":"/s","sendCertificateChain":true}""", "sendCertificateChain applies to a certificate")]
    [InlineData("""{"type":"workloadidentity","clientId":"abcd1234-1243-abcd-9876-1234abcd5678","tenantId":"t"}""", "needs federatedTokenFile")]
    [InlineData("""{"type":"workloadidentity","clientId":"abcd1234-1243-abcd-9876-1234abcd5678","tenantId":"bad tenant","federatedTokenFile":"/f"}""", "tenantId 'bad tenant' is not a tenant id")]
    [InlineData("""["systemassigned"]""", "identity must be an object")]
    public void InvalidIdentities_AreOneClearLineEach(string identity, string expected)
    {
        var error = Error(LoadJson($$$"""{"routes":[{"name":"q","pathPrefix":"/","target":"{{{Query}}}","identity":{{{identity}}}}]}"""));

        Assert.StartsWith("ROUTES_FILE ", error, StringComparison.Ordinal);
        Assert.Contains("routes[0] (\"q\") identity", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void RouteIdentities_InheritTenantAndTokenFileFromTheEnvironment()
    {
        var result = LoadJson($$$"""
            {"routes":[{"name":"q","pathPrefix":"/","target":"{{{Query}}}","identity":{"type":"workloadidentity","clientId":"{{{ClientId}}}"}},
                       {"name":"w","pathPrefix":"/dataCollectionRules/","target":"{{{Ingest}}}","identity":{"type":"aadapplication","clientId":"{{{ClientId}}}","clientSecretFile":"/s/secret"}}]}
            """, ("AAD_TENANT_ID", "contoso.onmicrosoft.com"), ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"), ("CLOUD", "AZUREGOVERNMENT"),
            ("AUDIENCE", "")); // empty means unset

        Assert.False(result.IsValid); // the query endpoint is a public-cloud one but CLOUD is government
        var error = Assert.Single(result.Errors);
        Assert.Contains("routes[0] (\"q\"): target is a workspace query endpoint of AZUREPUBLIC", error, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("the route's \"audience\"", error, StringComparison.Ordinal);

        result = LoadJson($$$"""
            {"routes":[{"name":"q","pathPrefix":"/","target":"{{{Query}}}","identity":{"type":"workloadidentity","clientId":"{{{ClientId}}}"}},
                       {"name":"w","pathPrefix":"/dataCollectionRules/","target":"{{{Ingest}}}","identity":{"type":"aadapplication","clientId":"{{{ClientId}}}","clientSecretFile":"/s/secret"}}]}
            """, ("AAD_TENANT_ID", "contoso.onmicrosoft.com"), ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var workload = result.Options!.Routes[0].Identity!;
        Assert.Equal(("contoso.onmicrosoft.com", "/var/run/token"), (workload.TenantId, workload.FederatedTokenFile));
        var application = result.Options.Routes[1].Identity!;
        Assert.Equal("/s/secret", application.ClientSecret!.FilePath);
        Assert.Equal(new Uri("https://login.microsoftonline.com/"), application.AuthorityHost);
    }

    [Theory]
    [InlineData("TARGET_HOST", "myws.eastus.prometheus.monitor.azure.com", "ROUTES_FILE and TARGET_HOST are both set")]
    [InlineData("INGESTION_URL", "https://h/dcr/api/v1/write", "ROUTES_FILE and INGESTION_URL are both set")]
    [InlineData("AUDIENCE", "https://monitor.azure.com", "ROUTES_FILE and AUDIENCE are both set")]
    public void RoutesFileWithSingleTargetSettings_IsAnError(string name, string value, string expected)
    {
        var error = Error(LoadJson($$$"""{"routes":[{"name":"a","pathPrefix":"/","target":"{{{Ingest}}}"}]}""", (name, value)));

        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void ConflictAndFileProblems_AreAllReported()
    {
        var result = LoadJson("""{"routes":[{"name":"a","pathPrefix":"x","target":"h"}]}""", ("TARGET_HOST", "h"));

        Assert.Equal(2, result.Errors.Count);
        Assert.Contains(result.Errors, e => e.Contains("must start with '/'", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryProblemIsReported_NotJustTheFirst()
    {
        var result = LoadJson("""
            {"routes":[{"name":"a","pathPrefix":"/","target":"ftp://h"},{"name":"b","pathPrefix":"x","target":"h","extra":1}]}
            """);

        Assert.Equal(3, result.Errors.Count);
    }

    [Fact]
    public void Describe_ShowsPrefixAndRouteIdentity()
    {
        var result = LoadJson($$$"""{"routes":[{"name":"q","pathPrefix":"/api/v1/","target":"{{{Query}}}","identity":{"type":"userassigned","clientId":"{{{ClientId}}}"}}]}""");

        var line = Assert.Single(result.Options!.Describe(), l => l.StartsWith("route ", StringComparison.Ordinal));
        Assert.Equal($"route q: /api/v1/* -> {Query} (scope {Audience.QueryScope}, identity userassigned (client id {ClientId}))", line);
        Assert.Contains(result.Options.Describe(), l => l.StartsWith("routes file ", StringComparison.Ordinal) && l.EndsWith("read again when it changes (checked every 10 s)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("routes.yaml")]
    [InlineData("ROUTES.YML")]
    public void YamlFile_GivesTheSameRoutesAsTheJsonOne(string fileName)
    {
        var json = LoadJson($$$"""
            {"routes":[
              {"name":"ingestion","pathPrefix":"/dataCollectionRules/","target":"{{{Ingest}}}","audience":"https://monitor.azure.com"},
              {"name":"2024","path":"/api/v1/write","target":"{{{Ingest}}}/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24"},
              {"name":"query","pathPrefix":"/","target":"{{{Query}}}","identity":{"type":"userassigned","clientId":"{{{ClientId}}}"}}]}
            """);
        var yaml = LoadYaml($$$"""
            # a ConfigMap's routes.yaml
            routes:
              - name: ingestion
                pathPrefix: /dataCollectionRules/
                target: {{{Ingest}}}
                audience: "https://monitor.azure.com"
              - name: 2024            # a number-looking name stays a name
                path: /api/v1/write
                target: {{{Ingest}}}/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24
              - {name: query, pathPrefix: /, target: '{{{Query}}}',
                 identity: {type: userassigned, clientId: {{{ClientId}}}}}
            """, fileName);

        Assert.True(yaml.IsValid, string.Join("\n", yaml.Errors));
        Assert.Equal(json.Options!.Routes.Select(ProxyOptions.DescribeRoute), yaml.Options!.Routes.Select(ProxyOptions.DescribeRoute));
        Assert.Equal("2024", yaml.Options.Routes[1].Name);
        Assert.Equal(ClientId, yaml.Options.Routes[2].Identity!.ClientId);
    }

    [Fact]
    public void YamlFile_KnowsBooleansAndNulls_AsJsonDoes()
    {
        // A plain true is a boolean (so "sendCertificateChain" is checked as one); a quoted one is a string.
        const string Route = "routes:\n  - {name: q, pathPrefix: /, target: h, identity: {type: aadapplication, clientId: abcd1234-1243-abcd-9876-1234abcd5678, tenantId: t, clientSecretFile: /s, sendCertificateChain: VALUE}}\n";
        Assert.Contains("sendCertificateChain applies to a certificate", Error(LoadYaml(Route.Replace("VALUE", "true", StringComparison.Ordinal))), StringComparison.Ordinal);
        Assert.Contains("sendCertificateChain must be", Error(LoadYaml(Route.Replace("VALUE", "'true'", StringComparison.Ordinal))), StringComparison.Ordinal);

        // An empty audience is null, which is the same as leaving it out.
        var result = LoadYaml($$$"""
            routes:
              - name: q
                pathPrefix: /
                target: {{{Query}}}
                audience:
            """);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(Audience.QueryScope, Assert.Single(result.Options!.Routes).Scope);
    }

    [Theory]
    [InlineData("routes:\n  - name: a\n    pathPrefix: /\n   target: h\n", "is not valid YAML at line 4, column")]
    [InlineData("routes:\n  - name: a\n    pathPrefix: /\n    target: h\n    audeince: x\n", "unknown field \"audeince\"")]
    [InlineData("- name: a\n  pathPrefix: /\n  target: h\n", "must hold a mapping whose \"routes:\" is a list of routes")]
    [InlineData("routes: []\n", "non-empty array")]
    [InlineData("", "is empty")]
    [InlineData("# only a comment\n", "is empty")]
    [InlineData("base: &b {pathPrefix: /, target: h}\nroutes:\n  - *b\n", "uses the alias '*b' at line 3")]
    [InlineData("routes:\n  - !!map {name: a, pathPrefix: /, target: h}\n", "uses the tag")]
    [InlineData("routes:\n  - {name: a, pathPrefix: /, target: h}\n---\nroutes: []\n", "more than one YAML document")]
    [InlineData("routes:\n  - {[name]: a, pathPrefix: /, target: h}\n", "is not a plain name")]
    [InlineData("routes: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "more than 16 deep at line 1")]
    public void InvalidYaml_IsOneClearLine(string yaml, string expected)
    {
        var error = Error(LoadYaml(yaml));

        Assert.StartsWith("ROUTES_FILE ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void YamlFileThatIsNotUtf8_SaysSo()
    {
        var path = Path.Combine(_directory, "routes.yaml");
        File.WriteAllBytes(path, [.. "routes:\n  - name: caf"u8, 0xE9, .. "\n"u8]);

        var error = Error(Load(new Dictionary<string, string> { ["ROUTES_FILE"] = path, ["IDENTITY_TYPE"] = "systemassigned" }));

        Assert.Contains("is not UTF-8 text", error, StringComparison.Ordinal);
    }

    [Fact]
    public void MangledYaml_IsAlwaysOneClearLine_NeverAnException()
    {
        // Cut, duplicated and scrambled pieces of a valid file, the way a hand edit goes wrong.
        var valid = "routes:\n  - name: a\n    pathPrefix: /\n    target: \"https://h\"\n    identity: {type: userassigned, clientId: 'x'}\n  - [b, &c *c, !t x, ? k : v, |\n  text\n  ]\n";
        var random = new Random(20261127);
        var context = new RoutesFileContext(AzureCloud.Public, null, false);
        for (var i = 0; i < 2000; i++)
        {
            var chars = valid.ToCharArray();
            for (var edits = random.Next(1, 6); edits > 0; edits--)
            {
                var at = random.Next(chars.Length);
                chars[at] = valid[random.Next(valid.Length)];
            }

            var text = new string(chars)[..random.Next(chars.Length + 1)];
            var errors = new List<string>();
            List<RouteDefinition> routes;
            try
            {
                routes = RoutesFile.FromBytes(System.Text.Encoding.UTF8.GetBytes(text), "r.yaml", context, errors.Add);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"{ex.GetType().Name} for:\n{text}\n{ex}");
            }

            Assert.True(routes.Count > 0 || errors.Count > 0, text);
            Assert.All(errors, e => Assert.DoesNotContain(" at YamlDotNet.", e, StringComparison.Ordinal));
        }
    }
}
