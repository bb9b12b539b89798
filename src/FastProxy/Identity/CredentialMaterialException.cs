namespace FastProxy.Identity;

/// <summary>
/// The identity's own material is unusable: a certificate, secret or federated token file is
/// missing, unreadable, malformed or expired. Its message is one line an operator can act on and
/// never contains the material itself.
/// </summary>
internal sealed class CredentialMaterialException : Exception
{
    public CredentialMaterialException(string message)
        : base(message)
    {
    }

    public CredentialMaterialException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CredentialMaterialException()
    {
    }
}
