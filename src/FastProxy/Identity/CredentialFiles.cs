namespace FastProxy.Identity;

/// <summary>
/// Reads the files an identity is made of (certificate, secret, federated token). Each failure
/// becomes a <see cref="CredentialMaterialException"/> naming the file and the setting, never its
/// content. Files are small and read only when a token is fetched, so they are read whole.
/// </summary>
internal static class CredentialFiles
{
    /// <summary>Larger than any certificate bundle or token; a bigger file is a wrong path.</summary>
    private const long MaxLength = 1024 * 1024;

    public static async Task<byte[]> ReadBytesAsync(string path, string setting, CancellationToken cancellationToken)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxLength)
            {
                throw new CredentialMaterialException($"{setting} file {path} is {info.Length} bytes, larger than any credential file; check the path");
            }

            return await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CredentialMaterialException($"{setting} file {path} does not exist; check the path and that the volume holding it is mounted", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CredentialMaterialException($"{setting} file {path} cannot be read by this process (permission denied); check the file mode and the pod's fsGroup", ex);
        }
        catch (IOException ex)
        {
            throw new CredentialMaterialException($"{setting} file {path} could not be read: {ex.GetType().Name}", ex);
        }
    }

    public static async Task<string> ReadTextAsync(string path, string setting, CancellationToken cancellationToken)
    {
        var bytes = await ReadBytesAsync(path, setting, cancellationToken);
        var text = System.Text.Encoding.UTF8.GetString(bytes);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new CredentialMaterialException($"{setting} file {path} is empty");
        }

        return text;
    }
}
