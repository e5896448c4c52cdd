//! `#[derive(DriverOptions)]`: a driver declares its options once, as a struct, and gets its
//! option schema (what `machine create -d NAME --help` lists) and the parser of the host's
//! option values from that one declaration. Use it through `driver_protocol::DriverOptions`,
//! whose documentation shows the attributes.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Expr, Fields, LitStr};

/// Derives `driver_protocol::DriverOptions` for a struct with named fields: each field is one
/// option, its doc comment the option's help, `#[option(...)]` its name and the rest.
#[proc_macro_derive(DriverOptions, attributes(option))]
pub fn derive_driver_options(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// One field's option.
struct Spec {
    field: syn::Ident,
    ty: syn::Type,
    name: LitStr,
    help: String,
    env: Option<LitStr>,
    default: Option<Expr>,
    min: Option<Expr>,
    max: Option<Expr>,
    secret: bool,
    aliases: Vec<LitStr>,
    docker_machine_field: Option<LitStr>,
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "DriverOptions is derived for structs",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "DriverOptions needs named fields",
        ));
    };
    let specs = fields
        .named
        .iter()
        .map(spec)
        .collect::<syn::Result<Vec<Spec>>>()?;
    let krate = quote!(::driver_protocol);
    let schema = specs.iter().map(|s| {
        let (name, ty, help) = (&s.name, &s.ty, &s.help);
        let mut e = quote! {
            #krate::OptionSpec::new(#name, <#ty as #krate::options::OptionValue>::TYPE, #help)
        };
        if let Some(env) = &s.env {
            e = quote!(#e.env(#env));
        }
        if let Some(d) = &s.default {
            e = quote!(#e.default(#krate::__private::serde_json::Value::from(#d)));
        }
        if s.secret {
            e = quote!(#e.secret());
        }
        for a in &s.aliases {
            e = quote!(#e.alias(#a));
        }
        if let Some(f) = &s.docker_machine_field {
            e = quote!(#e.docker_machine_field(#f));
        }
        e
    });
    let reads = specs.iter().map(|s| {
        let (field, ty, name, help) = (&s.field, &s.ty, &s.name, &s.help);
        let env = match &s.env {
            Some(e) => quote!(::std::option::Option::Some(#e)),
            None => quote!(::std::option::Option::None),
        };
        let bound = |b: &Option<Expr>| match b {
            Some(e) => quote!(::std::option::Option::Some(#e)),
            None => quote!(::std::option::Option::None),
        };
        let (min, max) = (bound(&s.min), bound(&s.max));
        quote! {
            #field: <#ty as #krate::options::OptionValue>::read(
                options,
                #krate::options::Field { name: #name, help: #help, env: #env, min: #min, max: #max },
            )?
        }
    });
    let writes = specs.iter().map(|s| {
        let (field, ty, name) = (&s.field, &s.ty, &s.name);
        quote! {
            if let Some(v) = <#ty as #krate::options::OptionValue>::write(&self.#field) {
                options.insert(#name, v);
            }
        }
    });
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::DriverOptions for #ident #ty_generics #where_clause {
            fn schema() -> ::std::vec::Vec<#krate::OptionSpec> {
                ::std::vec![#(#schema),*]
            }
            fn from_options(options: &#krate::Options) -> ::std::result::Result<Self, #krate::DriverError> {
                ::std::result::Result::Ok(Self { #(#reads),* })
            }
            fn to_options(&self) -> #krate::Options {
                let mut options = #krate::Options::new();
                #(#writes)*
                options
            }
        }
    })
}

fn spec(f: &syn::Field) -> syn::Result<Spec> {
    let field = f.ident.clone().expect("named field");
    let help = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    if help.is_empty() {
        return Err(syn::Error::new_spanned(
            f,
            "every option needs help: a doc comment on the field (`/// ...`)",
        ));
    }
    let mut s = Spec {
        field,
        ty: f.ty.clone(),
        name: LitStr::new("", proc_macro2::Span::call_site()),
        help,
        env: None,
        default: None,
        min: None,
        max: None,
        secret: false,
        aliases: Vec::new(),
        docker_machine_field: None,
    };
    let mut named = false;
    for attr in f.attrs.iter().filter(|a| a.path().is_ident("option")) {
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            match key.as_str() {
                "name" => {
                    s.name = meta.value()?.parse()?;
                    named = true;
                }
                "env" => s.env = Some(meta.value()?.parse()?),
                "default" => s.default = Some(meta.value()?.parse()?),
                "min" => s.min = Some(meta.value()?.parse()?),
                "max" => s.max = Some(meta.value()?.parse()?),
                "secret" => s.secret = true,
                "alias" => s.aliases.push(meta.value()?.parse()?),
                "docker_machine_field" => s.docker_machine_field = Some(meta.value()?.parse()?),
                _ => {
                    return Err(meta.error(
                        "unknown option attribute: use name, env, default, min, max, secret, alias or docker_machine_field",
                    ))
                }
            }
            Ok(())
        })?;
    }
    if !named {
        return Err(syn::Error::new_spanned(
            f,
            "every option needs its flag name: #[option(name = \"mine-region\")]",
        ));
    }
    Ok(s)
}
