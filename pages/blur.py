import streamlit as st
st.title('blur')
st.info('coming soon')
